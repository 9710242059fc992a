"""The app served by uvicorn in a background thread on a free loopback port: what the browser
tests and the dashboard benchmark run against."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any


class BackgroundServer:
    """`with BackgroundServer(app) as url:` — the app answers at `url` inside the block."""

    def __init__(self, app: Any, start_timeout: float = 30.0) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # Set once the server listens — or once its thread ends, having failed to start.
        self._settled = threading.Event()
        settled = self._settled

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                settled.set()

        self._server = Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
            )
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._timeout = start_timeout

    def _run(self) -> None:
        try:
            self._server.run()
        finally:
            self._settled.set()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._settled.wait(self._timeout) or not self._server.started:
            raise RuntimeError("the dashboard did not start")
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(30)
