"""The HTTP server inside a forked worker: functions-framework's WSGI app behind kept-alive connections.

A forked worker (zygote.py) serves the very app `functions-framework --source
main.py --target ENTRY` builds (`functions_framework.create_app`), but not
through gunicorn: gunicorn forks a master and a worker per instance (two
processes where one does the work) and hands every request from its poller
to a pool thread. Here each connection the host opens gets one thread that
reads request after request from it (HTTP/1.1 keep-alive), so a delivery
costs no connect, no hand-over between threads and no second process; the
host keeps at most `concurrency` connections per instance, so that is the
instance's thread count, as THREADS is for functions-framework.

Standard library only, and only what the host sends: requests with a
Content-Length (no chunked bodies), answered with a Content-Length in one
write, with Nagle off. The request line is read here and the headers by
http_headers.py, strictly: `BaseHTTPRequestHandler` hands them to the
`email` package's parser, a sixth of a worker's CPU per delivery.
"""

from __future__ import annotations

import http.client
import io
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import unquote

from ..http_headers import MAX_HEADERS, BadHeaderLine, HeaderFields, read_header_fields

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

class WsgiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "WorkerServer"

    def setup(self) -> None:
        super().setup()
        if self.connection.family != socket.AF_UNIX:  # the zygote's warm-up serves over a socket pair
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self) -> bool:
        """The request line and headers (what BaseHTTPRequestHandler's does, minus the email parser)."""
        self.command, self.request_version, self.close_connection = None, self.default_request_version, True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # answered with a status line, not as HTTP/0.9
            self.send_error(400, f"Bad request line {self.requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        try:
            headers = HeaderFields(read_header_fields(self.rfile, strict=True))
        except BadHeaderLine as exc:
            self.send_error(400, str(exc))
            return False
        except http.client.LineTooLong:
            self.send_error(431, "A header line is too long")
            return False
        except http.client.HTTPException:
            self.send_error(431, f"More than {MAX_HEADERS} headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (self.request_version == "HTTP/1.0"
                                                          and connection != "keep-alive")
        if headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self._send(411, [("Content-Type", "text/plain")], [b"a Content-Length is required\n"])
            return
        length_text = self.headers.get("Content-Length") or "0"
        if not (length_text.isascii() and length_text.isdigit()):
            self.close_connection = True
            self._send(400, [("Content-Type", "text/plain")], [b"a bad Content-Length\n"])
            return
        length = int(length_text)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the sender went away mid-body: never run the app on part of a request
            self.close_connection = True
            return
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"], answer["headers"] = status, headers
            return lambda data: answer.setdefault("written", []).append(data)

        result = self.server.app(self._environ(body), start_response)
        try:
            chunks = [*answer.get("written", []), *result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        self._send(int(answer["status"].split(" ", 1)[0]), answer["headers"], chunks, answer["status"])

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(self.server.server_port),
            "SERVER_PROTOCOL": self.request_version, "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _send(self, code: int, headers: list[tuple[str, str]], chunks: list[bytes], status: str = "") -> None:
        payload = b"".join(chunks)
        reason = status.split(" ", 1)[1] if " " in status else ""
        lines = [f"HTTP/1.1 {code} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("content-length", "connection")]
        lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else payload))

    def log_message(self, format: str, *args: object) -> None:  # the app logs its own lines
        pass


class WorkerServer(ThreadingHTTPServer):
    """Serves one WSGI app on 127.0.0.1:`port`, one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, app: WsgiApp) -> None:
        self.app = app
        super().__init__(("127.0.0.1", port), WsgiHandler)
