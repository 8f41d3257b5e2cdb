"""Request body limits, enforced before a handler sees the body (pure ASGI): its size, and the time
the client takes to send it."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PayloadTooLarge, RequestTimeout, send_problem

# A body too slow to arrive is not waited for: the connection is closed after the 408.
CLOSE = {"Connection": "close"}
# A body too large is answered at once but not cut off: closing a socket with unread input resets
# it, and the client, still sending, would see a broken connection instead of the 413. The server
# discards the rest (within its unread-body deadline, see shared.serving) and the connection goes on.


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: at once when ``Content-Length`` says so, otherwise as
    soon as the streamed body crosses the limit. Refuse with 408 a body not received whole within
    ``read_timeout`` seconds of the first read, so that a client trickling its body holds nothing for
    long (a receive raises :class:`PayloadTooLarge` or :class:`RequestTimeout`, which the app answers)."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_problem(send, 400, "Content-Length is not a number.")
                    return
                if declared > self.max_bytes:
                    await send_problem(send, 413, self._detail(), slug=PayloadTooLarge.slug)
                    return
                break
        received = 0
        deadline: float | None = None
        complete = False

        async def limited_receive() -> Message:
            nonlocal received, deadline, complete
            if complete:  # after the body: waiting for a disconnect is not bounded
                return await receive()
            if self.read_timeout is None:
                message = await receive()
            else:
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + self.read_timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise RequestTimeout(
                        f"The request body was not received within {self.read_timeout:g} s.", headers=CLOSE
                    ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self._detail())
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"The request body exceeds the limit of {self.max_bytes} bytes."
