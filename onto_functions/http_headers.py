"""HTTP/1.1 header fields read without the `email` package.

The standard library's `http.client` and `http.server` hand header lines to
`email.parser.Parser`, which builds a MIME message for what is a handful of
`Name: value` lines: measured with py-spy, that parse was a tenth of the CPU
of each Firestore call of the runtime, and of each delivery the local
stack's host sends to a worker, and a sixth of a worker's. Here the lines are
read by `read_header_fields` into a small case-insensitive table: for
answers by `LeanResponse` (set it as a connection's `response_class`; the
status line, the body and the keep-alive rules stay the standard library's),
for requests by the local worker's server, which asks for `strict` reading:
RFC 9112 refuses whitespace before a colon and folded lines, either of which
could make it read another body length than a parser in front of it.
"""

from __future__ import annotations

import http.client
from typing import Any, Iterator

MAX_LINE = 65536
MAX_HEADERS = 100


class HeaderFields:
    """Header fields: looked up without regard to case, listed as received."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, failobj: Any = None) -> Any:
        found = [v for n, v in self._fields if n.lower() == name.lower()]
        return found or failobj

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def keys(self) -> list[str]:
        return [n for n, _ in self._fields]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __getitem__(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._fields)


class BadHeaderLine(ValueError):
    """A header line that strict reading refuses (an HTTP 400)."""


def read_header_fields(fp: Any, *, strict: bool = False) -> list[tuple[str, str]]:
    """`Name: value` lines up to the blank line. Leniently, a line that starts with white space continues
    the last one; strictly, it and a name with white space around it are refused (BadHeaderLine)."""
    fields: list[tuple[str, str]] = []
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return fields
        text = str(line, "iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and fields and not strict:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if strict and (not colon or not name or name != name.strip() or not name.isprintable()):
            raise BadHeaderLine(f"bad header line {text[:100]!r}")
        fields.append((name.strip(), value.strip()))
    raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


class LeanResponse(http.client.HTTPResponse):
    """http.client's answer, its headers read by `read_header_fields` instead of the email parser."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                break
            read_header_fields(self.fp)  # an interim answer's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = HeaderFields(read_header_fields(self.fp))  # type: ignore[assignment]
        self.chunked = (self.headers.get("transfer-encoding") or "").lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = _length(self.headers.get("content-length"), self.chunked)
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 \
                or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


def _length(text: str | None, chunked: bool) -> int | None:
    if not text or chunked:
        return None
    try:
        length = int(text)
    except ValueError:
        return None
    return length if length >= 0 else None
