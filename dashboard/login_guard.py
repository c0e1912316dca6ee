"""Before a login, nothing about the app; after failed logins, a client waits longer for each next try.

Gradio 6 renders its login page with the app's whole API description embedded (`window.gradio_api_info`: every
endpoint with its example values, such as the `--clips` file names), although `/gradio_api/info` itself needs a
login; and it answers wrong passwords as fast as they come. `LoginGuard` is an ASGI middleware in front of
Gradio's app (passed through `launch(app_kwargs={"middleware": ...})`): it blanks that description on any page
Gradio renders for a visitor who must log in first, and makes each client's login attempts wait, one at a time,
after a few failures.

    limiter = LoginLimiter()
    demo.launch(auth=("admin", "pw"), app_kwargs={"middleware": [Middleware(LoginGuard, limiter=limiter)]})

Clients are told apart by their socket's address (never a header a client could forge); behind a reverse
proxy every client shares the proxy's address, so the delays then apply to all of them together.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

#: Gradio's login page marker and the script that carries the API description (its JSON has '<' escaped, so
#: the first ';</script>' ends it).
AUTH_REQUIRED = b'"auth_required":true'
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
_NO_API_INFO = b"window.gradio_api_info = {};</script>"
LOGIN_PATHS = ("/login", "/login/")


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    waiting: int = 0  # attempts of this client waiting for their turn
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class LoginLimiter:
    """Failed logins per client: after `free_failures`, each attempt waits `first_delay_s`, doubling with every
    further failure up to `max_delay_s`. A success forgets the client; so does a quiet `forget_after_s`.

    A client's attempts go one at a time (parallel tries would otherwise all wait out the same delay and then run
    together); more than `max_waiting` waiting at once are refused outright."""

    free_failures: int = 3
    first_delay_s: float = 0.5
    max_delay_s: float = 60.0
    forget_after_s: float = 3600.0
    max_waiting: int = 4
    max_clients: int = 10_000
    _clients: OrderedDict[str, _Client] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, address: str, now: float) -> _Client:
        with self._lock:
            c = self._clients.get(address)
            if c is not None and c.waiting == 0 and now - c.last_failure > self.forget_after_s:
                c = None
            if c is None:
                c = self._clients[address] = _Client()
            self._clients.move_to_end(address)
            while len(self._clients) > self.max_clients:  # the least recently seen go first
                self._clients.popitem(last=False)
            return c

    def delay_s(self, c: _Client, now: float) -> float:
        """How long this client's next attempt still has to wait."""
        over = c.failures - self.free_failures
        if over < 0:
            return 0.0
        delay = min(self.max_delay_s, self.first_delay_s * 2**over)
        return max(0.0, c.last_failure + delay - now)

    def failed(self, c: _Client, now: float) -> None:
        c.failures += 1
        c.last_failure = now

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._clients.pop(address, None)


class LoginGuard:
    """ASGI middleware: the login limiter on POST /login, and no API description on a login page."""

    def __init__(self, app, limiter: LoginLimiter | None = None):
        self.app = app
        self.limiter = limiter or LoginLimiter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] == "POST" and scope["path"] in LOGIN_PATHS:
            await self._login(scope, receive, send)
        elif scope["method"] == "GET":
            await self._page(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _login(self, scope, receive, send) -> None:
        address = (scope.get("client") or ("?", 0))[0]
        limiter = self.limiter
        c = limiter.client(address, time.monotonic())
        if c.waiting >= limiter.max_waiting:
            await _json(
                send, 429, "too many login attempts at once from your address; try again later", limiter.max_delay_s
            )
            return
        c.waiting += 1
        try:
            async with c.turn:
                wait = limiter.delay_s(c, time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
                status = {}

                async def watch(message) -> None:
                    if message["type"] == "http.response.start":
                        status["code"] = message["status"]
                    await send(message)

                await self.app(scope, receive, watch)
                if status.get("code") == 200:
                    limiter.succeeded(address)
                elif status.get("code") in (400, 401, 403):
                    limiter.failed(c, time.monotonic())
        finally:
            c.waiting -= 1

    async def _page(self, scope, receive, send) -> None:
        start: dict | None = None
        body: list[bytes] = []

        async def rewrite(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = message  # held back until the whole page is here
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = b"".join(body)
                if AUTH_REQUIRED in page:
                    page = _API_INFO.sub(_NO_API_INFO, page)
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(page)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


async def _json(send, status: int, detail: str, retry_after_s: float) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(math.ceil(retry_after_s)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
