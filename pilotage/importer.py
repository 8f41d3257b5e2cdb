"""``pilotage import``: stream a CSV or JSON Lines file into the platform through the gateway.

The file is read lazily, one record at a time, into batches of the route's maximum (10 000 points,
1 000 people); a few batches are in flight at once (bounded), so memory stays flat however long
the file. Each record keeps its line number (a CSV header is line 1), so that every refused row —
by the client (missing column, unparsable number or date, naive timestamp) or by the server (a 422
pointing at ``/points/17/ts``) — is written to the rejects file with its line and reason, while the
rest of its batch goes in. A progress file beside the input lists the line ranges the gateway has
acknowledged; ``--resume`` skips them.

    summary = await run_import(MEASUREMENTS, ImportOptions(path=Path("points.csv")), gateway)
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import datetime as dt
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TextIO
from urllib.parse import quote

import httpx
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pilotage.client import FatalError, GatewayClient, problem_detail

Format = Literal["csv", "jsonl"]
_ITEM_POINTER = re.compile(r"^/(?:points|people)/(\d+)(?:/(.*))?$")


class InputError(Exception):
    """The input cannot be imported at all (no such file, a header without a needed column)."""


@dataclass(slots=True)
class Record:
    """One row of the input: its first line, its text as read, and its fields (None: not an object)."""

    line: int
    raw: str
    fields: dict[str, Any] | None
    nbytes: int


@dataclass(slots=True)
class Rejected:
    line: int
    raw: str
    reason: str


@dataclass
class Batch:
    first_line: int
    last_line: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0


@dataclass
class ImportOptions:
    path: Path
    format: Format | None = None
    dry_run: bool = False
    resume: bool = False
    concurrency: int = 4
    batch_size: int | None = None
    rejects_path: Path | None = None
    progress_path: Path | None = None
    delimiter: str = ","
    columns: dict[str, str] = field(default_factory=dict)  # field -> column name in the file
    show_progress: bool = True

    @property
    def input_format(self) -> Format:
        if self.format is not None:
            return self.format
        return "jsonl" if self.path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"

    @property
    def rejects_file(self) -> Path:
        return self.rejects_path or self.path.with_name(self.path.name + ".rejects.csv")

    @property
    def progress_file(self) -> Path:
        return self.progress_path or self.path.with_name(self.path.name + ".progress")


@dataclass
class ImportSummary:
    rows: int = 0
    skipped: int = 0
    accepted: int = 0
    rejected: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 2 if self.rejected else 0


class ImportKind(Protocol):
    """What is imported: the route, its batch limit, and how one record becomes one item."""

    name: str
    path: str
    collection: str
    batch_size: int
    required: tuple[str, ...]
    server_dry_run: bool  # the route validates without writing (`?dry_run=true`)

    def item(self, fields: dict[str, Any], columns: dict[str, str]) -> dict[str, Any] | str:
        """The item to send, or the reason the record is refused."""

    async def prepare(self, batch: Batch, gateway: GatewayClient) -> None:
        """Resolve what needs the gateway before sending (moving refused items to ``rejected``)."""

    def params(self, options: ImportOptions) -> dict[str, str]: ...


# -- reading ---------------------------------------------------------------------------------------


class _Lines:
    """The lines of a binary file, decoded one at a time, counting lines and bytes and keeping what
    the current record consumed (a quoted CSV field may span lines)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.line = 0
        self.consumed: list[str] = []
        self.nbytes = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self._file:
            self.line += 1
            self.nbytes += len(raw)
            text = raw.decode("utf-8-sig" if self.line == 1 else "utf-8", errors="replace")
            self.consumed.append(text)
            yield text

    def take(self) -> tuple[str, int]:
        text = "".join(self.consumed).rstrip("\r\n")
        self.consumed.clear()
        nbytes, self.nbytes = self.nbytes, 0
        return text, nbytes


def read_csv(file: IO[bytes], delimiter: str = ",") -> Iterator[Record]:
    """Records of a CSV file whose first line is its header (line 1), each a dict by column name."""
    lines = _Lines(file)
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] | None = None
    start = 1
    for row in reader:
        raw, nbytes = lines.take()
        if header is None:
            header = [name.strip() for name in row]
            start = lines.line + 1
            yield Record(line=0, raw=raw, fields=dict.fromkeys(header, ""), nbytes=nbytes)  # the header
            continue
        line, start = start, lines.line + 1
        if not row:
            yield _blank(line, nbytes)
            continue
        fields: dict[str, Any] = {}
        for name, value in zip(header, row, strict=False):
            fields[name] = value.strip()
        if len(row) > len(header):
            fields["\x00extra"] = len(row) - len(header)
        yield Record(line=line, raw=raw, fields=fields, nbytes=nbytes)


def _blank(line: int, nbytes: int) -> Record:
    return Record(line=line, raw="", fields={}, nbytes=nbytes)


def read_jsonl(file: IO[bytes]) -> Iterator[Record]:
    """Records of a JSON Lines file (line 1 is the first record); blank lines are skipped."""
    for number, raw_bytes in enumerate(file, start=1):
        text = raw_bytes.decode("utf-8", errors="replace").strip()
        if not text:
            yield _blank(number, len(raw_bytes))
            continue
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            yield Record(line=number, raw=text, fields=None, nbytes=len(raw_bytes))
            continue
        yield Record(
            line=number, raw=text, fields=document if isinstance(document, dict) else None, nbytes=len(raw_bytes)
        )


# -- what is imported ------------------------------------------------------------------------------


def _text(fields: dict[str, Any], column: str) -> str | None:
    value = fields.get(column)
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.strip() or None


def parse_timestamp(text: str) -> dt.datetime | str:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return f"unparsable timestamp {text!r}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"naive timestamp {text!r}: give an offset, e.g. {text}Z"
    return parsed


def parse_number(value: Any) -> float | str:
    if isinstance(value, bool):
        return f"not a number: {value!r}"
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return f"unparsable number {value!r}"
    if not math.isfinite(number):
        return f"not a finite number: {value!r}"
    return number


class Measurements:
    """Points `kpi,ts,value` → POST /v1/measurements, 10 000 a batch."""

    name = "measurements"
    path = "/v1/measurements"
    collection = "points"
    batch_size = 10_000
    required: tuple[str, ...] = ("kpi", "ts", "value")
    server_dry_run = True

    def __init__(self, fixed_kpi: str | None = None) -> None:
        self.fixed_kpi = fixed_kpi

    def item(self, fields: dict[str, Any], columns: dict[str, str]) -> dict[str, Any] | str:
        kpi = self.fixed_kpi or _text(fields, columns.get("kpi", "kpi"))
        if kpi is None:
            return f"missing {columns.get('kpi', 'kpi')}"
        ts_text = _text(fields, columns.get("ts", "ts"))
        if ts_text is None:
            return f"missing {columns.get('ts', 'ts')}"
        ts = parse_timestamp(ts_text)
        if isinstance(ts, str):
            return ts
        raw_value = fields.get(columns.get("value", "value"))
        if raw_value is None or (isinstance(raw_value, str) and not raw_value.strip()):
            return f"missing {columns.get('value', 'value')}"
        value = parse_number(raw_value)
        if isinstance(value, str):
            return value
        return {"kpi": kpi, "ts": ts.isoformat(), "value": value}

    async def prepare(self, batch: Batch, gateway: GatewayClient) -> None:  # noqa: ARG002 - nothing to resolve
        return None

    def params(self, options: ImportOptions) -> dict[str, str]:
        return {"dry_run": "true"} if options.dry_run else {}


PERSON_DATES = ("hire_date", "end_date")
PERSON_TEXT = ("employee_number", "name", "email", "job_title", "separation_reason")


class People:
    """People (the §8 person fields; `org_unit` an id or a key; `salary_amount`, `salary_currency`)
    → POST /v1/people/batch, 1 000 a batch, upserted by employee number."""

    name = "people"
    path = "/v1/people/batch"
    collection = "people"
    batch_size = 1_000
    required: tuple[str, ...] = ("employee_number", "name", "email", "hire_date")
    server_dry_run = False

    def __init__(self) -> None:
        self._units: dict[str, str | None] = {}

    def item(self, fields: dict[str, Any], columns: dict[str, str]) -> dict[str, Any] | str:
        def get(name: str) -> str | None:
            return _text(fields, columns.get(name, name))

        person: dict[str, Any] = {}
        for name in self.required:
            value = get(name)
            if value is None:
                return f"missing {columns.get(name, name)}"
        for name in PERSON_TEXT:
            value = get(name)
            if value is not None:
                person[name] = value
        for name in PERSON_DATES:
            value = get(name)
            if value is None:
                continue
            try:
                person[name] = dt.date.fromisoformat(value).isoformat()
            except ValueError:
                return f"unparsable date {name} {value!r} (YYYY-MM-DD)"
        if ("end_date" in person) != ("separation_reason" in person):
            return "end_date and separation_reason go together"
        unit = get("org_unit") or get("org_unit_id")
        if unit is None:
            return f"missing {columns.get('org_unit', 'org_unit')}"
        person["org_unit_id"] = unit
        manager = get("manager_id")
        if manager is not None:
            try:
                person["manager_id"] = str(uuid.UUID(manager))
            except ValueError:
                return f"manager_id {manager!r} is not a person id"
        amount, currency = get("salary_amount"), get("salary_currency")
        if amount is not None or currency is not None:
            if amount is None or currency is None:
                return "salary_amount and salary_currency go together"
            number = parse_number(amount)
            if isinstance(number, str):
                return number
            person["salary"] = {"amount": number, "currency": currency.upper()}
        return person

    async def prepare(self, batch: Batch, gateway: GatewayClient) -> None:
        """Org units named by key are looked up once each (an id is sent as it is)."""
        for wanted in {item["org_unit_id"] for item in batch.items} - self._units.keys():
            if _is_uuid(wanted):
                self._units[wanted] = wanted
                continue
            response = await gateway.request("GET", f"/v1/org-units/{quote(wanted, safe='')}")
            if response.status_code == 200:
                self._units[wanted] = response.json()["id"]
            elif response.status_code in (404, 422):
                self._units[wanted] = None
            else:
                raise FatalError(f"Could not look up org unit {wanted!r}: {response.status_code}")
        kept = Batch(first_line=batch.first_line)
        for item, line, raw in zip(batch.items, batch.lines, batch.raws, strict=True):
            unit_id = self._units[item["org_unit_id"]]
            if unit_id is None:
                batch.rejected.append(Rejected(line, raw, f"no org unit {item['org_unit_id']!r}"))
                continue
            kept.items.append({**item, "org_unit_id": unit_id})
            kept.lines.append(line)
            kept.raws.append(raw)
        batch.items, batch.lines, batch.raws = kept.items, kept.lines, kept.raws

    def params(self, options: ImportOptions) -> dict[str, str]:  # noqa: ARG002 - no dry run on the route
        return {}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


MEASUREMENTS = Measurements()


# -- progress and rejects files --------------------------------------------------------------------


class Acknowledged:
    """The line ranges the gateway has acknowledged, kept in the progress file (one `[first, last]`
    JSON array a line, appended as batches complete, in any order)."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[list[int]] = []
        for first, last in sorted(ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self._starts = [first for first, _ in merged]
        self._ends = [last for _, last in merged]

    @classmethod
    def load(cls, path: Path) -> Acknowledged:
        ranges: list[tuple[int, int]] = []
        if path.exists():
            for text in path.read_text().splitlines():
                try:
                    first, last = orjson.loads(text)
                    ranges.append((int(first), int(last)))
                except (orjson.JSONDecodeError, ValueError, TypeError):
                    continue  # a line cut short by a crash: that batch is sent again, which is safe
        return cls(ranges)

    def __contains__(self, line: int) -> bool:
        index = bisect.bisect_right(self._starts, line) - 1
        return index >= 0 and line <= self._ends[index]

    def __bool__(self) -> bool:
        return bool(self._starts)


class Journal:
    """The rejects file (CSV: line, row, reason) and the progress file, written as batches finish."""

    def __init__(self, options: ImportOptions) -> None:
        append = options.resume
        new_rejects = not (append and options.rejects_file.exists())
        self._rejects: TextIO = options.rejects_file.open("a" if append else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._rejects)
        if new_rejects:
            self._writer.writerow(["line", "row", "reason"])
            self._rejects.flush()
        self._progress: TextIO | None = None
        if not options.dry_run:
            path = options.progress_file
            torn = append and _ends_torn(path)
            self._progress = path.open("a" if append else "w", encoding="utf-8")
            if torn:  # the last line of a run cut short: end it, so that it stays one unreadable line
                self._progress.write("\n")

    def reject(self, rows: Iterable[Rejected]) -> None:
        for row in sorted(rows, key=lambda r: r.line):
            self._writer.writerow([row.line, row.raw, row.reason])
        self._rejects.flush()

    def acknowledge(self, first: int, last: int) -> None:
        if self._progress is not None:
            self._progress.write(f"[{first},{last}]\n")
            self._progress.flush()

    def close(self) -> None:
        self._rejects.close()
        if self._progress is not None:
            self._progress.close()


def _ends_torn(path: Path) -> bool:
    """Whether the file's last line lacks its newline."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as file:
        file.seek(-1, 2)
        return file.read(1) != b"\n"


# -- sending ---------------------------------------------------------------------------------------


def _map_errors(response: httpx.Response, batch: Batch, collection: str) -> dict[int, str]:
    """Item index → reason, from a 422's field errors (`/points/17/ts`); empty when none point at an item."""
    try:
        body = response.json()
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    reasons: dict[int, list[str]] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        pointer = str(error.get("pointer") or "")
        match = _ITEM_POINTER.match(pointer)
        if match is None or not pointer.startswith(f"/{collection}/"):
            continue
        index = int(match.group(1))
        if 0 <= index < len(batch.items):
            where = match.group(2)
            message = str(error.get("message") or error.get("code") or "refused")
            reasons.setdefault(index, []).append(f"{where}: {message}" if where else message)
    return {index: "; ".join(messages) for index, messages in reasons.items()}


async def send_batch(
    kind: ImportKind, batch: Batch, gateway: GatewayClient, options: ImportOptions
) -> tuple[int, dict[str, int]]:
    """Send the batch's items; items a 422 points at are moved to ``batch.rejected`` and the rest
    sent again. Returns how many were accepted and the route's counts."""
    await kind.prepare(batch, gateway)
    if options.dry_run and not kind.server_dry_run:
        return len(batch.items), {}
    params = kind.params(options)
    while batch.items:
        body = orjson.dumps({kind.collection: batch.items})
        response = await gateway.request(
            "POST", kind.path, content=body, params=params, headers={"Content-Type": "application/json"}
        )
        if response.status_code == 200:
            payload = response.json()
            counts = {k: int(v) for k, v in payload.items() if isinstance(v, int) and not isinstance(v, bool)}
            return len(batch.items), counts
        if response.status_code == 422:
            bad = _map_errors(response, batch, kind.collection)
            if not bad:  # a refusal of the whole batch: every row of it is rejected with the reason
                reason = f"batch refused: {problem_detail(response)}"
                pairs = zip(batch.lines, batch.raws, strict=True)
                batch.rejected.extend(Rejected(line, raw, reason) for line, raw in pairs)
                batch.items, batch.lines, batch.raws = [], [], []
                break
            kept = Batch(first_line=batch.first_line)
            for index, (item, line, raw) in enumerate(zip(batch.items, batch.lines, batch.raws, strict=True)):
                if index in bad:
                    batch.rejected.append(Rejected(line, raw, bad[index]))
                else:
                    kept.items.append(item)
                    kept.lines.append(line)
                    kept.raws.append(raw)
            batch.items, batch.lines, batch.raws = kept.items, kept.lines, kept.raws
            continue
        raise FatalError(
            f"{kind.path} answered {response.status_code} for lines {batch.first_line}-{batch.last_line}: "
            f"{problem_detail(response)}"
        )
    return 0, {}


def batches(
    kind: ImportKind, records: Iterator[Record], options: ImportOptions, done: Acknowledged, summary: ImportSummary
) -> Iterator[Batch]:
    """Group records into batches of the route's size, refusing what the client can tell is bad."""
    size = min(options.batch_size or kind.batch_size, kind.batch_size)
    columns = options.columns
    header = options.input_format == "csv"
    batch: Batch | None = None
    pending_bytes = 0
    for record in records:
        if record.line == 0:  # the CSV header
            pending_bytes += record.nbytes
            present = set(record.fields or {})
            needed = [columns.get(name, name) for name in kind.required if not _optional(kind, name)]
            missing = [name for name in needed if name not in present]
            if missing:
                raise InputError(f"The header (line 1) has no column {', '.join(map(repr, missing))}.")
            continue
        if record.fields == {} and not record.raw:  # a blank line
            pending_bytes += record.nbytes
            continue
        if record.line in done:
            summary.skipped += 1
            pending_bytes += record.nbytes
            continue
        if batch is None:
            batch = Batch(first_line=record.line, nbytes=pending_bytes)
            pending_bytes = 0
        batch.last_line = record.line
        batch.rows += 1
        batch.nbytes += record.nbytes
        if record.fields is None:
            batch.rejected.append(Rejected(record.line, record.raw, "not a JSON object"))
        elif header and record.fields.get("\x00extra"):
            batch.rejected.append(Rejected(record.line, record.raw, "more fields than the header has columns"))
        else:
            item = kind.item(record.fields, columns)
            if isinstance(item, str):
                batch.rejected.append(Rejected(record.line, record.raw, item))
            else:
                batch.items.append(item)
                batch.lines.append(record.line)
                batch.raws.append(record.raw)
        if batch.rows >= size:  # rows, not items: a run of bad rows must not grow one batch forever
            yield batch
            batch = None
    if batch is not None:
        batch.nbytes += pending_bytes
        yield batch


def _optional(kind: ImportKind, name: str) -> bool:
    return isinstance(kind, Measurements) and name == "kpi" and kind.fixed_kpi is not None


class _RowsColumn(ProgressColumn):
    """Rows done and rows per second."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        elapsed = task.elapsed or 0.0
        rate = rows / elapsed if elapsed > 0 else 0.0
        return Text(f"{rows:,} rows · {rate:,.0f} rows/s", style="progress.data.speed")


@asynccontextmanager
async def _progress_bar(options: ImportOptions, label: str, total: int | None) -> AsyncIterator[tuple[Progress, Any]]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        _RowsColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not options.show_progress,
        transient=False,
    )
    with progress:
        task = progress.add_task(label, total=total, rows=0)
        yield progress, task


async def run_import(kind: ImportKind, options: ImportOptions, gateway: GatewayClient) -> ImportSummary:
    """Import the file; raises :class:`InputError` or :class:`FatalError` when it cannot go on
    (the progress file then holds what was acknowledged, for ``--resume``)."""
    if not options.path.is_file():
        raise InputError(f"No file {options.path}.")
    done = Acknowledged.load(options.progress_file) if options.resume else Acknowledged()
    summary = ImportSummary()
    journal = Journal(options)
    total = options.path.stat().st_size or None
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=max(options.concurrency, 1))
    started = time.monotonic()
    try:
        async with _progress_bar(options, f"{kind.name} {options.path.name}", total) as (progress, task):

            def finished(batch: Batch, accepted: int, counts: dict[str, int]) -> None:
                summary.rows += batch.rows
                summary.accepted += accepted
                summary.rejected += len(batch.rejected)
                for name, value in counts.items():
                    summary.counts[name] = summary.counts.get(name, 0) + value
                journal.reject(batch.rejected)
                journal.acknowledge(batch.first_line, batch.last_line)
                progress.update(task, advance=batch.nbytes, rows=summary.rows + summary.skipped)

            async def worker() -> None:
                while (batch := await queue.get()) is not None:
                    accepted, counts = await send_batch(kind, batch, gateway, options)
                    finished(batch, accepted, counts)

            workers = [asyncio.create_task(worker()) for _ in range(max(options.concurrency, 1))]

            async def put(item: Batch | None) -> None:
                """Queue the item, or raise the first worker's failure while waiting for room."""
                putting = asyncio.ensure_future(queue.put(item))
                while not putting.done():
                    running = [w for w in workers if not w.done()]
                    await asyncio.wait([putting, *running], return_when=asyncio.FIRST_COMPLETED)
                    for failed in workers:
                        error = failed.exception() if failed.done() and not failed.cancelled() else None
                        if error is not None:
                            putting.cancel()
                            raise error

            try:
                with options.path.open("rb") as file:
                    records = read_csv(file, options.delimiter) if options.input_format == "csv" else read_jsonl(file)
                    for batch in batches(kind, records, options, done, summary):
                        await put(batch)
                for _ in workers:
                    await put(None)
                await asyncio.gather(*workers)
            finally:
                for pending in workers:
                    pending.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            if total:
                progress.update(task, completed=total, rows=summary.rows + summary.skipped)
    finally:
        journal.close()
    summary.seconds = time.monotonic() - started
    return summary
