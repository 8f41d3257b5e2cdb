"""The baseline: a bare FastAPI app, no middleware, no database. ``uvicorn bench.ping_app:app``."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="bench ping", openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
