"""An HTTP server on 127.0.0.1 served from a daemon thread: the receiver's and the host's front.

Standard library only: the emulator's deliveries are small and the work
behind them runs elsewhere (a queue, a worker), so a threading server is
enough, and nothing heavy is imported to answer it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serve `handler` on 127.0.0.1:`port` (0: a free port) until `stop()`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, name: str = "onto-http") -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=name, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, the form `--functions_emulator` takes."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
