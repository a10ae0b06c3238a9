"""A fake platform API as a real HTTP server on 127.0.0.1 (uvicorn on its own thread), recording every request.

Tests, benchmarks and `inbox-dev simulate --serve-apis` point an account's `api_base` at `fake.url`, so the
product's real HTTP client code runs against it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    """One request as the fake platform saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float  # time.time()

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self, encoding: str = "utf-8") -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True, encoding=encoding))


Handler = Callable[[Received], Awaitable[Response]]


class FakePlatform:
    """Base of the fakes: subclasses list their routes; this runs the server and keeps what was received."""

    name = "platform"

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the server thread and the test share the fake's state
        self._received: list[Received] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0
        self.delay_s = 0.0  # answer this much later (a slow platform; a call still under way at shutdown)

    def routes(self) -> dict[tuple[str, str], Handler]:
        """(method, path) → handler."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The `api_base` to configure: scheme, host and port."""
        if not self.port:
            raise RuntimeError(f"the fake {self.name} API is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.lock:
            return list(self._received)

    def received_at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, *, path: str | None = None, timeout: float = 10.0) -> list[Received]:
        """Requests (to `path`) once `count` arrived, or what arrived when `timeout` passed."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.received_at(path) if path else self.received
            if len(seen) >= count or time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.02)

    def _app(self) -> Starlette:
        def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                received = Received(
                    method=request.method,
                    path=request.url.path,
                    query=dict(request.query_params),
                    headers=dict(request.headers),
                    body=await request.body(),
                    at=time.time(),
                )
                with self.lock:
                    self._received.append(received)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                return await handler(received)

            return run

        return Starlette(
            routes=[
                Route(path, endpoint(handler), methods=[method]) for (method, path), handler in self.routes().items()
            ]
        )

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:`port` (0: any free port); returns the base URL once it accepts connections."""
        # Bound here, not by uvicorn, so the port is known (and ours) before the thread starts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._socket = sock
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="off", loop="asyncio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-{self.name}-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the fake {self.name} API did not start on port {port}")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def json_response(payload: Any, status: int = 200, *, charset: str = "utf-8") -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(charset)
    return Response(body, status, media_type=f"application/json;charset={charset}")
