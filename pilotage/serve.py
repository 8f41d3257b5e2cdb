"""``python -m pilotage.serve <process>``: one Pilotage process on the shared server configuration.

``pilotage up`` starts each process this way, and so do the compose file and the image, so every
process runs with the same server limits (``shared.serving.server_config``, from the settings)::

    python -m pilotage.serve kpi --host 0.0.0.0 --port 8002
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from shared.metrics import MULTIPROCESS_DIR
from shared.serving import server_config
from shared.settings import Settings

# The application of each process.
APPS = {
    "strategy": "services.strategy_service.main:app",
    "kpi": "services.kpi_service.main:app",
    "talent": "services.talent_service.main:app",
    "gateway": "services.gateway.main:app",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pilotage.serve", description="Run one Pilotage process.")
    parser.add_argument("process", choices=sorted(APPS))
    parser.add_argument("--host", help="Interface to listen on (default: PILOTAGE_HOST).")
    parser.add_argument("--port", type=int, help="Port (default: the process's PILOTAGE_<NAME>_PORT).")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    return parser


def config_for(argv: Sequence[str], settings: Settings) -> uvicorn.Config:
    args = build_parser().parse_args(argv)
    port = args.port or getattr(settings, f"{args.process}_port")
    return server_config(APPS[args.process], settings, host=args.host or settings.host, port=port, workers=args.workers)


def share_metrics_between_workers(folder: Path) -> None:
    """Workers write their samples under ``folder`` (emptied first: samples of an earlier run would
    add up with this one's) and a scrape of any of them sums every worker's."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(folder)


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings()
    arguments = sys.argv[1:] if argv is None else argv
    config = config_for(arguments, settings)
    server = uvicorn.Server(config)
    if config.workers > 1:
        process = build_parser().parse_args(arguments).process
        share_metrics_between_workers(settings.data_dir / "metrics" / f"{process}-{config.port}")
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    server.run()
    return 0 if server.started else 3  # uvicorn's exit status when start-up fails


if __name__ == "__main__":
    sys.exit(main())
