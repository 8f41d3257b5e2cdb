"""The benchmark harness: what a benchmark starts, how it loads a target, how it reports.

A benchmark (``python -m bench.<name>``) composes these pieces inside one ``ExitStack`` so that
everything it started is stopped whatever happens:

- :func:`throwaway_database` — a fresh ``pilotage_bench_<hex>`` database, migrated, dropped at the
  end, on the server of ``DATABASE_URL`` or on the embedded PostgreSQL (stopped at the end if the
  benchmark is what started it);
- :func:`running_platform` — the three services and the gateway (``pilotage.supervisor``) on free
  loopback ports, ready;
- :func:`uvicorn_app` — any other ASGI app (e.g. :mod:`bench.ping_app`) as its own uvicorn process;
- :func:`load_generator` and :func:`measure` — wrk (installed with apt-get when missing), or a
  Python/aiohttp fallback when wrk cannot be had. One generator serves every target of a run, so
  the ratios compare like with like. A measurement that saw a single error response fails. It
  also records the CPU time per request of the server processes it is told to watch. A target
  with ``paths`` cycles through them (round-robin, a wrk Lua ``request()``);
- :func:`postgres_processes` — the PostgreSQL processes working for one database (its backends,
  the server's writers and I/O workers, and backends that ended meanwhile), to watch like a pid;
- :class:`CpuMeter` — the same CPU accounting for benchmarks that drive the load themselves
  (their own Python client: ingestion batches, sequential reads).

Every request carries its target's headers (:attr:`Target.headers`, wrk ``-H``). The platform
requires credentials, made per run by :class:`Credentials`: an admin API key for the gateway
(``Authorization: Bearer``) and a signed internal token for a service called directly
(``X-Internal-Token``); ``running_platform(extra_env=credentials.platform_env)`` configures the
processes to accept them.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import ctypes
import itertools
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TypeVar

import aiohttp
import asyncpg
import httpx
from sqlalchemy.engine import make_url

from pilotage import migrate
from pilotage.supervisor import StartupError, Supervisor, child_environment
from services.gateway.keys import generate_key
from shared.auth import INTERNAL_TOKEN_HEADER, ISSUERS, Principal, Scope
from shared.db import plain_url
from shared.embedded_postgres import embedded_server_url, stop_embedded_server
from shared.settings import Settings
from shared.token_keys import development_key_pair, gateway_identity

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SERVICES = ("strategy", "kpi", "talent", "gateway")
# Quiet children (start-up readiness polls log warnings), so the output stays readable; no access log.
QUIET_ENV = {"UVICORN_LOG_LEVEL": "warning", "PILOTAGE_LOG_LEVEL": "error"}


T = TypeVar("T")


class BenchError(Exception):
    """The benchmark cannot produce a trustworthy figure; the message says why."""


# --------------------------------------------------------------------------- processes and ports


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports that are free right now (all held open together while choosing)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the benchmark dies, even on SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` so that every ``finally`` (process and database clean-up) runs."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def run_benchmark(name: str, run: Callable[[], T]) -> T | int:
    """Run a benchmark's body with SIGTERM handled; a failure or an interruption becomes an exit code
    (everything the body started is stopped by its own context managers before this returns)."""
    stop_on_sigterm()
    try:
        return run()
    except BenchError as exc:
        print(f"{name}: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; everything it started is stopped.", file=sys.stderr, flush=True)
        return 130


def fetchval(url: str, statement: str) -> object:
    """One value from a one-off connection (outside any event loop)."""

    async def query() -> object:
        connection = await asyncpg.connect(url)
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()

    return asyncio.run(query())


def _stop_process(popen: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def wait_http_ok(url: str, *, timeout: float, popen: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``popen`` exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if popen is not None and popen.poll() is not None:
                raise BenchError(f"{url}: the process exited with code {popen.returncode} before it was ready")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"{url} not ready after {timeout:.0f}s")
            time.sleep(0.1)


def child_env(base: Mapping[str, str] | None = None, *, quiet: bool = True) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PILOTAGE_ACCESS_LOG"] = "false"
    if quiet:
        env.update(QUIET_ENV)
    return env


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@contextlib.contextmanager
def uvicorn_app(
    app: str,
    *,
    ready_path: str,
    host: str = HOST,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[Server]:
    """Serve ``module:attribute`` with one uvicorn worker (same flags as the platform's) until the end."""
    port = free_ports(1, host)[0]
    command = [
        sys.executable, "-m", "uvicorn", app,
        "--host", host, "--port", str(port), "--workers", "1",
        "--no-access-log", "--no-server-header",
    ]  # fmt: skip
    popen = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=dict(env) if env is not None else child_env(), preexec_fn=_die_with_parent
    )
    base_url = f"http://{host}:{port}"
    try:
        wait_http_ok(base_url + ready_path, timeout=ready_timeout, popen=popen)
        yield Server(base_url, popen.pid)
    finally:
        _stop_process(popen)


# --------------------------------------------------------------------------- database


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _drop_database(admin_url: str, name: str) -> None:
    try:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:  # clean-up must not hide the benchmark's own error; say what is left over
        print(f"WARNING: could not drop the benchmark database {name}: {exc!r}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def throwaway_database(settings: Settings | None = None, prefix: str = "pilotage_bench") -> Iterator[str]:
    """Create and migrate ``<prefix>_<hex>``; yield its URL; drop it at the end.

    On the server of ``DATABASE_URL`` when set (the new database is created through a connection to
    the configured one), else on the embedded PostgreSQL of the data folder. The embedded server is
    stopped at the end only when this function is what started it.
    """
    settings = settings or Settings()
    started_embedded = False
    with contextlib.ExitStack() as stack:
        if settings.database_url:
            admin_url = plain_url(settings.database_url)
        else:
            started_embedded = not (settings.data_dir / "postgres" / "postmaster.pid").exists()
            if started_embedded:
                stack.callback(stop_embedded_server, settings.data_dir)
            try:
                admin_url = plain_url(embedded_server_url(settings.data_dir, database="postgres"))
            except Exception as exc:
                raise BenchError(f"could not start the embedded PostgreSQL in {settings.data_dir}: {exc}") from exc
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        try:
            asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            shown = make_url(admin_url).render_as_string(hide_password=True)
            raise BenchError(f"could not create database {name} via {shown}: {exc}") from exc
        stack.callback(_drop_database, admin_url, name)
        url = plain_url(make_url(admin_url).set(database=name))
        migrate.upgrade(url)
        yield url


# --------------------------------------------------------------------------- the platform


@dataclass(frozen=True)
class Credentials:
    """A throw-away admin API key and token key pairs for one run (never the data folder's): the
    processes run in development with a data folder of their own, holding only these keys."""

    api_key: str
    data_dir: Path

    @classmethod
    def generate(cls) -> Credentials:
        data_dir = Path(tempfile.mkdtemp(prefix="pilotage-bench-"))
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
        for issuer in ISSUERS:
            development_key_pair(data_dir / "keys", issuer)
        return cls(api_key=generate_key().full, data_dir=data_dir)

    @property
    def platform_env(self) -> dict[str, str]:
        """The gateway bootstraps the admin key; every process signs and verifies tokens with the
        key pairs of the run's data folder (the database is named by DATABASE_URL). The rate
        limiter still runs on every request but is set never to refuse one: a 429 fails the run."""
        return {
            "PILOTAGE_BOOTSTRAP_ADMIN_KEY": self.api_key,
            "PILOTAGE_DATA_DIR": str(self.data_dir),
            "PILOTAGE_RATE_LIMIT_PER_SECOND": "1000000000",
            "PILOTAGE_RATE_LIMIT_BURST": "1000000000",
        }

    def gateway_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def service_headers(self, service: str, *scopes: Scope, ttl_seconds: int = 86_400) -> dict[str, str]:
        """What the gateway would forward to ``service``: a token for the ``bench`` principal."""
        principal = Principal(key_id="bench", scopes=frozenset(s.value for s in scopes))
        settings = Settings(env="development", data_dir=self.data_dir, internal_token_ttl_seconds=ttl_seconds)
        return {INTERNAL_TOKEN_HEADER: gateway_identity(settings).token_for(principal, service)}


@dataclass(frozen=True)
class Platform:
    host: str
    ports: Mapping[str, int]
    pids: Mapping[str, int]

    def url(self, name: str) -> str:
        """Base URL of ``gateway``, ``kpi``, ``strategy`` or ``talent``."""
        return f"http://{self.host}:{self.ports[name]}"


@contextlib.contextmanager
def running_platform(
    database_url: str,
    *,
    host: str = HOST,
    extra_env: Mapping[str, str] | None = None,
    quiet: bool = True,
    workers: int = 1,
    ready_timeout: float = 60.0,
) -> Iterator[Platform]:
    """The three services and the gateway on free ports, ready; all stopped at the end."""
    ports = dict(zip(SERVICES, free_ports(len(SERVICES), host), strict=True))
    env = child_env(child_environment(database_url, host, ports), quiet=quiet)
    for name in ("STRATEGY", "KPI", "TALENT"):  # the gateway must reach *these* processes
        env.pop(f"PILOTAGE_{name}_URL", None)
    env.update(extra_env or {})
    supervisor = Supervisor(host=host, ports=ports, env=env, workers=workers, graceful_seconds=5.0)
    try:
        supervisor.check_ports()
        supervisor.start()
        supervisor.wait_ready(timeout=ready_timeout)
        yield Platform(host, ports, {p.name: p.popen.pid for p in supervisor.processes})
    except StartupError as exc:
        raise BenchError(str(exc)) from exc
    finally:
        supervisor.stop()


# --------------------------------------------------------------------------- load generation


@dataclass(frozen=True)
class Target:
    """One URL to load; ``headers`` are sent with every request (wrk ``-H``). With ``paths``, the
    requests cycle through these paths on the URL's server (round-robin, e.g. several KPIs; a wrk Lua
    ``request()``), and ``url`` only names the server."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    paths: Sequence[str] = ()

    def urls(self) -> list[str]:
        """Every URL the target requests."""
        if not self.paths:
            return [self.url]
        base = _origin(self.url)
        return [base + path for path in self.paths]


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}" if parsed.port else f"{parsed.scheme}://{parsed.host}"


_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def _wrk_round_robin(paths: Sequence[str]) -> str:
    """A wrk ``request()`` cycling through ``paths`` (each thread from its own start)."""
    for path in paths:
        if not _SAFE_PATH.match(path):
            raise BenchError(f"path {path!r} cannot be passed to wrk")
    listed = ", ".join(f'"{path}"' for path in paths)
    return f"""
local paths = {{{listed}}}
local n = 0
request = function()
  n = n % #paths + 1
  return wrk.format(nil, paths[n])
end
"""


@dataclass(frozen=True)
class Measurement:
    target: Target
    generator: str
    seconds: float
    requests: int
    rps: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    # CPU time per request (µs) of each watched server process and of the load generator: what the
    # path costs, which req/s hides on a small or shared machine where they all compete for cores.
    cpu_us: Mapping[str, float] = field(default_factory=dict)
    # CPUs kept busy meanwhile by everything else on the machine (Linux); much above 0 spoils the run.
    other_cpus: float | None = None


class LoadGenerator(ABC):
    name: str

    @property
    @abstractmethod
    def description(self) -> str:
        """How the load is generated, for the report."""

    @abstractmethod
    def run(self, target: Target, seconds: int) -> Measurement:
        """Load ``target`` for ``seconds``; raise :class:`BenchError` on any non-2xx or socket error."""


# wrk calls done() once at the end; unlike a response() callback it costs nothing per request.
# errors.status counts responses >= 400; a 3xx is ruled out by preflight() before each run.
_WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH-SUMMARY requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99))))
end
"""
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)\s*$", re.MULTILINE)
_SUMMARY = re.compile(r"^BENCH-SUMMARY (.*)$", re.MULTILINE)


def parse_wrk_output(target: Target, output: str, seconds: float, cpu_seconds: float = 0.0) -> Measurement:
    rps_match = _RPS.search(output)
    summary_match = _SUMMARY.search(output)
    if rps_match is None or summary_match is None:
        raise BenchError(f"{target.name}: unexpected wrk output:\n{output}")
    summary = {key: int(value) for key, value in (item.split("=") for item in summary_match.group(1).split())}
    if summary["status"] or "Non-2xx" in output:
        raise BenchError(
            f"{target.name}: {summary['status']} of {summary['requests']} responses were errors (>= 400); "
            f"a benchmark of error responses is worthless.\n{output}"
        )
    socket_errors = {k: summary[k] for k in ("connect", "read", "write", "timeout") if summary[k]}
    if socket_errors:
        raise BenchError(f"{target.name}: socket errors {socket_errors}.\n{output}")
    if summary["requests"] == 0:
        raise BenchError(f"{target.name}: no request completed.\n{output}")
    return Measurement(
        target=target,
        generator="wrk",
        seconds=summary["duration_us"] / 1e6 or seconds,
        requests=summary["requests"],
        rps=float(rps_match.group(1)),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        cpu_us={"wrk": cpu_seconds * 1e6 / summary["requests"]},
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Wrk(LoadGenerator):
    name = "wrk"

    def __init__(self, executable: str, *, threads: int = 1, connections: int = 32) -> None:
        self.executable = executable
        self.threads = threads
        self.connections = connections

    @property
    def description(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections}"

    def run(self, target: Target, seconds: int) -> Measurement:
        with tempfile.NamedTemporaryFile("w", prefix="bench-", suffix=".lua") as script:
            script.write(_WRK_SCRIPT + (_wrk_round_robin(target.paths) if target.paths else ""))
            script.flush()
            command = [
                self.executable,
                f"-t{self.threads}",
                f"-c{self.connections}",
                f"-d{seconds}s",
                "--timeout", "5s",
                "--latency",
                "-s", script.name,
            ]  # fmt: skip
            for name, value in target.headers.items():
                command += ["-H", f"{name}: {value}"]
            command.append(target.url)
            before = _children_cpu()
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=seconds + 60, check=False, preexec_fn=_die_with_parent
            )
            used = _children_cpu() - before
        if completed.returncode != 0:
            raise BenchError(f"{target.name}: wrk exited with {completed.returncode}:\n{completed.stderr}")
        return parse_wrk_output(target, completed.stdout, seconds, used)


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """The ``percent`` percentile (nearest rank) of values sorted in ascending order."""
    return _percentile(sorted_values, percent)


def _percentile(sorted_values: Sequence[float], percent: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(percent / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


class PythonLoad(LoadGenerator):
    """Fallback when wrk cannot be installed: aiohttp, a few keep-alive connections. Far slower than
    wrk and it competes for the same CPU, so its absolute figures are low; ratios remain comparable."""

    name = "python-aiohttp"

    def __init__(self, *, connections: int = 8) -> None:
        self.connections = connections

    @property
    def description(self) -> str:
        return f"python/aiohttp, {self.connections} connections (FALLBACK: wrk unavailable or not chosen)"

    def run(self, target: Target, seconds: int) -> Measurement:
        return asyncio.run(self._run(target, seconds))

    async def _run(self, target: Target, seconds: int) -> Measurement:
        latencies: list[float] = []
        failures: dict[int, int] = {}
        connector = aiohttp.TCPConnector(limit=self.connections)
        cpu_before = time.process_time()
        async with aiohttp.ClientSession(connector=connector, headers=dict(target.headers)) as session:
            started = time.perf_counter()
            deadline = started + seconds
            urls = itertools.cycle(target.urls())

            async def worker() -> None:
                while (sent := time.perf_counter()) < deadline:
                    async with session.get(next(urls)) as response:
                        await response.read()
                        status = response.status
                    latencies.append(time.perf_counter() - sent)
                    if not 200 <= status < 300:
                        failures[status] = failures.get(status, 0) + 1

            try:
                await asyncio.gather(*(worker() for _ in range(self.connections)))
            except aiohttp.ClientError as exc:
                raise BenchError(f"{target.name}: {exc!r}") from exc
            elapsed = time.perf_counter() - started
        if failures:
            raise BenchError(f"{target.name}: non-2xx responses {failures}; a benchmark of errors is worthless.")
        if not latencies:
            raise BenchError(f"{target.name}: no request completed.")
        latencies.sort()
        return Measurement(
            target=target,
            generator=self.name,
            seconds=elapsed,
            requests=len(latencies),
            rps=len(latencies) / elapsed,
            p50_ms=_percentile(latencies, 50) * 1000,
            p99_ms=_percentile(latencies, 99) * 1000,
            cpu_us={"client": (time.process_time() - cpu_before) * 1e6 / len(latencies)},
        )


def ensure_wrk() -> str | None:
    """wrk's path; installs the Debian package when it is missing. ``None`` when that is impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        print("wrk is not installed and apt-get is not available.", flush=True)
        return None
    print("wrk not found: installing it (apt-get install -y wrk) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    last_error = ""
    for steps in ([install], [["apt-get", "update", "-q"], install]):
        for step in steps:
            completed = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                last_error = " ".join((completed.stderr or completed.stdout).strip().splitlines()[-1:])
                break
        else:
            found = shutil.which("wrk")
            if found:
                return found
    print(f"could not install wrk: {last_error}", flush=True)
    return None


def load_generator(kind: str = "auto", *, threads: int = 1, connections: int = 32) -> LoadGenerator:
    """``wrk`` (install it or fail), ``python`` (the fallback, forced) or ``auto`` (wrk if it can be had)."""
    if kind not in ("auto", "wrk", "python"):
        raise BenchError(f"unknown load generator {kind!r}: auto, wrk or python")
    if kind != "python":
        executable = ensure_wrk()
        if executable is not None:
            return Wrk(executable, threads=threads, connections=connections)
        if kind == "wrk":
            raise BenchError("wrk is required (--generator wrk) but could not be found or installed")
        print("NOTE: falling back to the Python load generator; figures are not comparable with wrk's.", flush=True)
    return PythonLoad(connections=min(connections, 8))


def preflight(target: Target) -> None:
    """One request first (to each URL): it must answer 2xx (not a redirect, not an error) with the
    target's headers."""
    for url in target.urls():
        try:
            response = httpx.get(url, headers=dict(target.headers), timeout=10.0, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise BenchError(f"{target.name}: {url} unreachable: {exc!r}") from exc
        if not response.is_success:
            raise BenchError(f"{target.name}: {url} answered {response.status_code}: {response.text[:300]}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``); ``None`` when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def reaped_children_seconds(pid: int) -> float | None:
    """CPU time of the children that ``pid`` has waited for (ended children), Linux ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class ProcessSet:
    """Processes picked afresh at each CPU snapshot among the children of ``parent`` whose title
    ``match`` accepts: e.g. one database's PostgreSQL backends, which come and go with connections.
    With ``reaped``, the CPU time of every child of ``parent`` that ended meanwhile counts too (a
    connection closed during a measurement takes its backend's time with it otherwise)."""

    parent: int
    match: Callable[[str], bool]
    reaped: bool = True

    def pids(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if (
                entry.name.isdigit()
                and _parent_pid(int(entry.name)) == self.parent
                and self.match(_title(int(entry.name)))
            ):
                found.append(int(entry.name))
        return found


# What measure() and CpuMeter watch: a process, or a set of processes found at each snapshot.
Watched = int | ProcessSet
_POSTGRES_HELPERS = (
    "postgres: walwriter",
    "postgres: checkpointer",
    "postgres: background writer",
    "postgres: io worker",
)


async def _server_pid(url: str) -> int | None:
    """The postmaster's pid: the parent of this connection's backend (read while it lives)."""
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return _parent_pid(int(await connection.fetchval("SELECT pg_backend_pid()")))
    finally:
        await connection.close()


def postgres_processes(database_url: str) -> ProcessSet | None:
    """The PostgreSQL processes that work for ``database_url``'s database: its backends, and the
    server's WAL writer, checkpointer, background writer and I/O workers (shared with any other
    database of the server), and backends that end meanwhile (of any database: on a quiet server,
    ours). ``None`` when the server is not a process on this machine."""
    database = make_url(database_url).database or ""
    try:
        parent = asyncio.run(_server_pid(plain_url(database_url)))
    except (OSError, asyncpg.PostgresError):
        return None
    if parent is None or not database:
        return None

    def ours(title: str) -> bool:
        return title.startswith(_POSTGRES_HELPERS) or (title.startswith("postgres: ") and database in title.split())

    return ProcessSet(parent, ours)


def _cpu_snapshot(watch: Mapping[str, Watched]) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each watched process, by name and pid."""
    snapshot: dict[str, dict[int, float]] = {}
    for name, what in watch.items():
        pids = [what] if isinstance(what, int) else what.pids()
        values = {pid: value for pid in pids if (value := cpu_seconds(pid)) is not None}
        if isinstance(what, ProcessSet) and what.reaped and (ended := reaped_children_seconds(what.parent)) is not None:
            values[-what.parent] = ended  # not a pid: the ended children's total
        if values:
            snapshot[name] = values
    return snapshot


def _cpu_used(before: Mapping[str, Mapping[int, float]], after: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """CPU seconds used between two snapshots, by name; a process that appeared meanwhile counts
    whole (a process that ended meanwhile is lost)."""
    return {
        name: sum(value - before[name].get(pid, 0.0) for pid, value in after[name].items())
        for name in before
        if name in after
    }


@dataclass(frozen=True)
class CpuReading:
    seconds: float  # wall-clock time between start and stop
    used: dict[str, float]  # CPU seconds of each watched process, and "client" (this process)
    other_cpus: float | None  # CPUs kept busy meanwhile by everything else (Linux)


class CpuMeter:
    """CPU time of watched processes and of this one between ``start()`` and ``stop()``, and what
    everything else on the machine used meanwhile (for benchmarks that run their own client)."""

    def __init__(self, watch: Mapping[str, Watched]) -> None:
        self.watch = watch
        self.reading: CpuReading | None = None  # the last stop()'s
        self.start()

    def start(self) -> None:
        self.reading = None
        self._before = _cpu_snapshot(self.watch)
        self._client = time.process_time()
        self._busy = machine_busy_seconds()
        self._wall = time.monotonic()

    def stop(self) -> CpuReading:
        after, client, busy = _cpu_snapshot(self.watch), time.process_time(), machine_busy_seconds()
        wall = time.monotonic() - self._wall
        used = {**_cpu_used(self._before, after), "client": client - self._client}
        other = None
        if busy is not None and self._busy is not None and wall > 0:
            other = max(0.0, (busy - self._busy - sum(used.values())) / wall)
        self.reading = CpuReading(wall, used, other)
        return self.reading


def machine_busy_seconds() -> float | None:
    """CPU time all processes have used since boot, all CPUs together (first line of ``/proc/stat``)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


OTHER_LOAD_WARNING = 0.15  # CPUs used by other processes during a measurement that make it suspect


def measure(
    generator: LoadGenerator,
    target: Target,
    *,
    seconds: int,
    warmup: int,
    watch: Mapping[str, Watched] | None = None,
) -> Measurement:
    """Preflight, warm up (discarded, but errors still fail), then measure; ``watch`` names server
    processes (name -> pid, or a :class:`ProcessSet`) whose CPU time per request is recorded when
    they served the load."""
    preflight(target)
    if warmup > 0:
        generator.run(target, warmup)
    before, busy_before, wall_before = _cpu_snapshot(watch or {}), machine_busy_seconds(), time.monotonic()
    result = generator.run(target, seconds)
    after, busy_after, wall = _cpu_snapshot(watch or {}), machine_busy_seconds(), time.monotonic() - wall_before
    per_request = {name: used * 1e6 / result.requests for name, used in _cpu_used(before, after).items()}
    cpu_us = {**{name: us for name, us in per_request.items() if us >= 1.0}, **result.cpu_us}
    other_cpus = None
    if busy_before is not None and busy_after is not None:
        ours = sum(cpu_us.values()) * result.requests / 1e6
        other_cpus = max(0.0, (busy_after - busy_before - ours) / wall)
    result = replace(result, cpu_us=cpu_us, other_cpus=other_cpus)
    note = f"  (WARNING: other processes used {other_cpus:.2f} CPUs)" if (other_cpus or 0) > OTHER_LOAD_WARNING else ""
    print(f"  {target.name:<28} {result.rps:>10.0f} req/s{note}", flush=True)
    return result


# --------------------------------------------------------------------------- command line and report


def env_int(name: str, default: int) -> int:
    """The integer in environment variable ``name``, else ``default`` (option defaults)."""
    value = os.environ.get(name)
    return int(value) if value else default


_env_int = env_int


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares; each defaults to an environment variable, then a constant."""
    parser.add_argument(
        "--seconds", type=int, default=_env_int("BENCH_SECONDS", 8), help="Measured seconds per target (BENCH_SECONDS)."
    )
    parser.add_argument(
        "--warmup", type=int, default=_env_int("BENCH_WARMUP", 2), help="Warm-up seconds per target (BENCH_WARMUP)."
    )
    parser.add_argument(
        "--connections", type=int, default=_env_int("BENCH_CONNECTIONS", 32), help="Connections (BENCH_CONNECTIONS)."
    )
    parser.add_argument(
        "--threads", type=int, default=_env_int("BENCH_THREADS", 1), help="wrk threads (BENCH_THREADS)."
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default=os.environ.get("BENCH_GENERATOR", "auto"),
        help="Load generator (BENCH_GENERATOR): wrk, installed if missing, else Python (auto).",
    )
    parser.add_argument("--verbose", action="store_true", help="Let the servers log at their normal level.")


def generator_from_args(args: argparse.Namespace) -> LoadGenerator:
    if args.seconds < 1 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        raise BenchError("--seconds and --connections and --threads must be >= 1, --warmup >= 0")
    return load_generator(args.generator, threads=args.threads, connections=args.connections)


def ratio(numerator: Measurement, denominator: Measurement) -> float:
    return numerator.rps / denominator.rps


def api(client: httpx.Client, method: str, path: str, expected: int, **kwargs: object) -> httpx.Response:
    """One call of a benchmark's set-up; anything but ``expected`` fails the run."""
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    if response.status_code != expected:
        raise BenchError(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response


def report(results: Sequence[Measurement], ratios: Sequence[tuple[str, Measurement, Measurement]]) -> None:
    """The table, then one line per ratio; the last one is the benchmark's ``ratio:`` line."""
    print()
    print(format_table(results))
    print()
    for label, numerator, denominator in ratios:
        print(f"{label}: {ratio(numerator, denominator):.2f}", flush=True)


def format_table(results: Sequence[Measurement]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def cpu(values: Mapping[str, float]) -> str:
        return " + ".join(f"{name} {us:.0f}" for name, us in values.items()) or "-"

    def other(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    header = f"{'target':<28} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'requests':>10} {'other CPUs':>10}  CPU µs/req"
    lines = [header]
    lines += [
        f"{r.target.name:<28} {r.rps:>10.0f} {ms(r.p50_ms):>8} {ms(r.p99_ms):>8} {r.requests:>10} "
        f"{other(r.other_cpus):>10}  {cpu(r.cpu_us)}"
        for r in results
    ]
    lines += disturbance_warning([r.target.name for r in results if (r.other_cpus or 0) > OTHER_LOAD_WARNING])
    return "\n".join(lines)


def disturbance_warning(disturbed: Sequence[str]) -> list[str]:
    """The report's warning line when other processes competed for the CPUs during these runs."""
    if not disturbed:
        return []
    return [
        f"WARNING: other processes competed for the CPUs during {', '.join(disturbed)}; "
        "these figures are not representative — rerun on a quiet machine."
    ]


def increasing_sizes(text: str) -> tuple[int, ...]:
    """``--sizes`` of the history benchmarks: ``10000,10_000_000`` → increasing positive sizes."""
    sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    if not sizes or list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
        raise argparse.ArgumentTypeError("increasing positive sizes, e.g. 10000,1000000,10000000")
    return sizes


def machine_summary() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return f"{os.cpu_count()} CPUs ({cpu}){memory}, Python {sys.version.split()[0]}"


def source_revision() -> str:
    """The commit measured, ``+changes`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" +changes" if changed else "")
