"""Real HTTP servers for tests: an ASGI app served by uvicorn on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from shared.serving import server_config
from shared.settings import Settings


@contextlib.asynccontextmanager
async def serve(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "off", settings: Settings | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 with a free port, configured as every Pilotage process is (the server
    limits of ``settings``); yield its base URL."""
    config = server_config(
        app, settings or Settings(), host="127.0.0.1", port=0, lifespan=lifespan, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
