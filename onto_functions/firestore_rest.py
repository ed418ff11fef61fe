"""The runtime's Firestore client: the v1 REST API over the standard library.

Why not google-cloud-firestore? Importing it (gRPC, google.api_core, the
GAPIC and proto-plus types) is most of a cold start: measured on this
project's machine, 0.25-0.35 s of the 0.5 s from process start to the first
event's view committed, and the hand-written Functions SDK handler pays it
too. What the executor sends is small and fixed (read documents, run an
equality query, begin a transaction, commit writes with preconditions, roll
back), and Firestore's REST API takes each as one JSON POST. So a deployed
function imports `http.client`, `json` and `ssl`, which its server
(functions-framework) has loaded anyway, and one kept-alive connection per
thread serves every event of the instance.

Every failure is a `FirestoreError` carrying Firestore's canonical status
("ABORTED", "FAILED_PRECONDITION", ...), so callers decide by status, never by
a transport's exception types. A request that never reached Firestore or
whose answer was lost is "UNAVAILABLE" with `sent=True` when it may have
landed.
"""

from __future__ import annotations

import json
import random
import select
import string
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from urllib.parse import quote

from .access_tokens import TokenSource, token_source_for
from .names import document_name, documents_root, relative_path
from .values import decode_json_fields, parse_timestamp

if TYPE_CHECKING:  # pragma: no cover
    import http.client

Filters = tuple[tuple[str, Any], ...]
DEFAULT_HOST = "firestore.googleapis.com"
TIMEOUT_SECONDS = 60.0
_ID_ALPHABET = string.ascii_letters + string.digits


class FirestoreError(Exception):
    """Firestore refused a call, or the call did not get an answer.

    `status` is the canonical code's name; `sent` is False only when the
    request surely did not reach Firestore (so it cannot have landed).
    """

    def __init__(self, status: str, message: str, *, sent: bool = True, answered: bool = False) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.sent = sent
        self.answered = answered  # Firestore (or its front end) answered with this status


@dataclass(frozen=True)
class StoredDocument:
    """A document as read: its relative path, decoded fields and times."""

    path: str
    data: dict[str, Any]
    update_time: datetime | None
    create_time: datetime | None


class FirestoreRest:
    """One database of one project, spoken to over HTTP/1.1 with kept-alive connections."""

    def __init__(self, project: str, database: str = "(default)", *, emulator_host: str | None = None,
                 tokens: TokenSource | None = None) -> None:
        self.project = project
        self.database = database
        self.root = documents_root(project, database)
        self.emulator_host = emulator_host
        self._tokens = tokens or token_source_for(emulator_host)
        self._api = f"/v1/projects/{quote(project, safe='')}/databases/{quote(database, safe='()')}/documents"
        # Firestore routes a request by this header (the client libraries send it); the emulator needs none.
        self._routing = {} if emulator_host else {
            "x-goog-request-params": f"project_id={quote(project, safe='')}&database_id={quote(database, safe='')}"}
        self._local = threading.local()

    # -- documents -----------------------------------------------------------------------------
    def get_all(self, paths: Sequence[str], transaction: str | None = None) -> list[StoredDocument | None]:
        """Several documents in one round trip, in the order given (None where absent)."""
        if not paths:
            return []
        body: dict[str, Any] = {"documents": [self.name(p) for p in paths]}
        if transaction:
            body["transaction"] = transaction
        found: dict[str, StoredDocument] = {}
        for item in _streamed(self._post(":batchGet", body, idempotent=transaction is None)):
            if "found" in item:
                doc = self._stored(item["found"])
                found[doc.path] = doc
        return [found.get(p.strip("/")) for p in paths]

    def query(self, collection: str, filters: Filters = (), transaction: str | None = None) -> list[StoredDocument]:
        """The documents of `collection` whose fields equal the given values, ordered by name."""
        parent, _, collection_id = collection.strip("/").rpartition("/")
        query: dict[str, Any] = {"from": [{"collectionId": collection_id}]}
        conditions = [_equality(field, value, self.root) for field, value in filters]
        if len(conditions) == 1:
            query["where"] = conditions[0]
        elif conditions:
            query["where"] = {"compositeFilter": {"op": "AND", "filters": conditions}}
        body: dict[str, Any] = {"structuredQuery": query}
        if transaction:
            body["transaction"] = transaction
        if self.emulator_host and ":" in parent:
            answers = _emulator_query_over_grpc(self, parent, body)
        else:
            suffix = ("/" + "/".join(quote(s, safe="") for s in parent.split("/")) if parent else "") + ":runQuery"
            answers = _streamed(self._post(suffix, body, idempotent=transaction is None))
        return [self._stored(a["document"]) for a in answers if "document" in a]

    # -- writes --------------------------------------------------------------------------------
    def begin_transaction(self) -> str:
        return str(self._post(":beginTransaction", {"options": {"readWrite": {}}}, idempotent=True)["transaction"])

    def rollback(self, transaction: str) -> None:
        """Release a transaction's locks; a failure to do so only delays their timeout."""
        try:
            self._post(":rollback", {"transaction": transaction}, idempotent=True)
        except FirestoreError:
            pass

    def commit(self, writes: list[dict[str, Any]], transaction: str | None = None) -> list[datetime | None]:
        """Apply `writes` (REST `Write` objects) atomically; each one's new update time (a delete's: the
        commit's time)."""
        body: dict[str, Any] = {"writes": writes}
        if transaction:
            body["transaction"] = transaction
        answer = self._post(":commit", body, idempotent=False)
        commit_time = answer.get("commitTime")
        results = answer.get("writeResults") or [{} for _ in writes]
        return [_time(r.get("updateTime") or commit_time) for r in results]

    def commit_with_retry(self, writes: list[dict[str, Any]], deadline_seconds: float = 60.0) -> list[datetime | None]:
        """A commit outside any transaction, tried again while Firestore says it did not happen.

        A plain write can be aborted while a transaction holds a lock on its
        document (the emulator breaks such waits after 2 s), as the client SDKs
        know: they retry it, and so does this.
        """
        deadline, delay = time.monotonic() + deadline_seconds, 0.05
        while True:
            try:
                return self.commit(writes)
            except FirestoreError as exc:
                # A 503 answer is Firestore saying it did not apply the write; a lost answer says nothing.
                retriable = exc.status == "ABORTED" or (exc.status == "UNAVAILABLE" and (exc.answered or not exc.sent))
                if not retriable or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 2.0)

    # -- names ---------------------------------------------------------------------------------
    def name(self, path: str) -> str:
        return document_name(self.project, self.database, path.strip("/"))

    def new_document_id(self) -> str:
        """A random 20-character id, as the client SDKs make them."""
        return "".join(random.SystemRandom().choice(_ID_ALPHABET) for _ in range(20))

    def _stored(self, doc: Mapping[str, Any]) -> StoredDocument:
        path = relative_path(doc["name"])
        fields = doc.get("fields")
        foreign = _foreign_reference(fields, self.root + "/")
        if foreign:
            # As the client library refuses to: a DocRef is a path in this database, so reading this one
            # as a DocRef and writing it back would point it here.
            raise ValueError(f"document {path} holds a reference to {foreign}, outside {self.root}: "
                             "onto reads references within the function's own database")
        return StoredDocument(path, decode_json_fields(fields), _time(doc.get("updateTime")),
                              _time(doc.get("createTime")))

    # -- transport -----------------------------------------------------------------------------
    def _post(self, suffix: str, body: Mapping[str, Any], *, idempotent: bool) -> Any:
        # ensure_ascii=False: text that is not Unicode (a lone surrogate) fails here, as the library refused
        # it, instead of travelling as a JSON escape that Firestore stores as "?".
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()
        attempts, refreshed = 3 if idempotent else 1, False
        attempt = 0
        while True:
            try:
                return self._exchange(self._api + suffix, payload)
            except FirestoreError as exc:
                if exc.status == "UNAUTHENTICATED" and exc.answered and not refreshed:
                    # Refused before anything ran (a revoked token, a clock that jumped): a new token, once.
                    self._tokens.invalidate()
                    refreshed = True
                    continue
                attempt += 1
                if exc.status != "UNAVAILABLE" or attempt == attempts:
                    raise
            time.sleep(0.05 * attempt)

    def _exchange(self, path: str, payload: bytes) -> Any:
        import http.client

        try:
            authorization = self._tokens.authorization()
        except Exception as exc:  # metadata server or google-auth: nothing was sent
            raise FirestoreError("UNAVAILABLE", f"no access token for Firestore: {type(exc).__name__}: {exc}",
                                 sent=False) from exc
        headers = {"Content-Type": "application/json", "Authorization": authorization,
                   **self._tokens.extra_headers(), **self._routing}
        connection = self._connection()
        try:
            connection.request("POST", path, body=payload, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise FirestoreError("UNAVAILABLE", f"could not send to Firestore: {exc}", sent=False) from exc
        try:
            response = connection.getresponse()
            status, text = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise FirestoreError("UNAVAILABLE", f"no answer from Firestore: {exc}") from exc
        if response.will_close:
            self._drop()
        if status != 200:
            raise _error(status, text)
        try:
            return json.loads(text) if text else {}
        except ValueError as exc:  # a cut or foreign body after a 200: what happened is unknown
            raise FirestoreError("UNAVAILABLE", f"Firestore's answer is not JSON: {text[:200]!r}") from exc

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's kept-alive connection, replaced when the server has closed it meanwhile."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and _closed_by_peer(connection):
            self._drop()
            connection = None
        if connection is None:
            connection = _open(self.emulator_host)
            self._local.connection = connection
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


def _open(emulator_host: str | None) -> http.client.HTTPConnection:
    import http.client

    from .http_headers import LeanResponse

    if emulator_host:
        host, _, port = emulator_host.rpartition(":")
        connection = http.client.HTTPConnection(host.strip("[]") or "localhost", int(port), timeout=TIMEOUT_SECONDS)
    else:
        connection = http.client.HTTPSConnection(DEFAULT_HOST, 443, timeout=TIMEOUT_SECONDS, context=_tls_context())
    connection.response_class = LeanResponse  # headers read without the email parser
    return connection


_tls: Any = None


def _tls_context() -> Any:
    """The system's trust store, or certifi's where the system has none (slim images)."""
    global _tls
    if _tls is None:
        import ssl

        context = ssl.create_default_context()
        if not context.cert_store_stats().get("x509_ca"):
            try:
                import certifi

                context.load_verify_locations(certifi.where())
            except ImportError:
                pass
        _tls = context
    return _tls


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """True when an idle kept-alive socket is readable: the server closed it (or broke the protocol)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        poller = select.poll()  # not select(): it cannot watch a descriptor past 1024
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _error(status: int, text: bytes) -> FirestoreError:
    try:
        detail = json.loads(text)
        if isinstance(detail, list):  # batchGet and runQuery answer errors inside an array
            detail = detail[0]
        error = detail["error"]
        return FirestoreError(str(error.get("status") or _STATUS_BY_HTTP.get(status, "UNKNOWN")),
                              str(error.get("message", "")), answered=True)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return FirestoreError(_STATUS_BY_HTTP.get(status, "UNKNOWN"), f"HTTP {status}: {text[:200]!r}", answered=True)


def _foreign_reference(value: Any, prefix: str) -> str | None:
    """The first reference value in REST `fields` (or a value within) that is not under `prefix`."""
    if isinstance(value, dict):
        name = value.get("referenceValue")
        if isinstance(name, str) and not name.startswith(prefix):
            return name
        for member in value.values():
            found = _foreign_reference(member, prefix) if isinstance(member, (dict, list)) else None
            if found:
                return found
    elif isinstance(value, list):
        for member in value:
            found = _foreign_reference(member, prefix)
            if found:
                return found
    return None


def _emulator_query_over_grpc(client: FirestoreRest, parent: str, body: dict[str, Any]) -> list[Any]:
    """runQuery under a document whose path has a ':', on the emulator only, through the client library.

    The emulator's REST front cuts a path at its first ':' (the verb separator), even percent-encoded
    (firebase-tools-ui issues 566 and 645), where Firestore itself takes the encoded form, as the
    JavaScript SDK's REST queries do. The library speaks gRPC to the emulator, which has no such limit;
    it is installed wherever onto's tests and local stack run, though not in a deployed trigger's bundle.
    Its errors come back as FirestoreError with the same statuses as any other call's.
    """
    import base64

    try:
        from google.api_core.exceptions import GoogleAPICallError
        from google.cloud.firestore_v1.types import RunQueryRequest, RunQueryResponse
    except ImportError:
        raise FirestoreError("UNIMPLEMENTED", f"the Firestore emulator cannot query under {parent!r} (a ':' in "
                             "the path) over REST; install google-cloud-firestore to query it over gRPC") from None
    request = RunQueryRequest.from_json(json.dumps({"parent": f"{client.root}/{parent}", **body}))
    if "transaction" in body:
        request.transaction = base64.b64decode(body["transaction"])
    try:
        answers = _emulator_api(client).run_query(request=request, metadata=[("authorization", "Bearer owner")])
        return [json.loads(RunQueryResponse.to_json(a)) for a in answers]
    except GoogleAPICallError as exc:
        status = getattr(exc.grpc_status_code, "name", None) or "UNKNOWN"
        raise FirestoreError(status, str(exc.message)) from exc


def _emulator_api(client: FirestoreRest) -> Any:
    """The library's gRPC stub on the emulator's port (plain text, the emulator's owner token)."""
    api = getattr(client, "_emulator_api", None)
    if api is None:
        import grpc
        from google.cloud.firestore_v1.services.firestore import client as gapic_client
        from google.cloud.firestore_v1.services.firestore.transports import grpc as gapic_grpc

        channel = grpc.insecure_channel(str(client.emulator_host))
        api = gapic_client.FirestoreClient(transport=gapic_grpc.FirestoreGrpcTransport(channel=channel))
        client._emulator_api = api
    return api


def _streamed(answers: Any) -> list[Any]:
    """The items of a streamed answer (batchGet, runQuery). Once the first item is out the status is
    200, so a failure later in the stream arrives as an item holding `error`: raised, never skipped."""
    items = answers or []
    for item in items:
        if isinstance(item, dict) and "error" in item:
            raise _error(200, json.dumps([item]).encode())
    return items


_STATUS_BY_HTTP = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                   409: "ABORTED", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
                   500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
                   504: "DEADLINE_EXCEEDED"}


def _time(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text else None


def _equality(field: str, value: Any, root: str) -> dict[str, Any]:
    """`field == value` as the client SDKs send it: null and NaN are unary filters."""
    from .values import encode_json_value

    path = {"fieldPath": field_path(field.split("."))}
    if value is None:
        return {"unaryFilter": {"op": "IS_NULL", "field": path}}
    if isinstance(value, float) and value != value:
        return {"unaryFilter": {"op": "IS_NAN", "field": path}}
    return {"fieldFilter": {"field": path, "op": "EQUAL",
                            "value": encode_json_value(value, root, naive_as_utc=True)}}  # as a write stores it


def field_path(segments: Iterable[str]) -> str:
    """Segments joined into a field path, each one quoted in backticks unless a plain identifier."""
    return ".".join(_segment(s) for s in segments)


def _segment(segment: str) -> str:
    if segment and (segment[0].isalpha() or segment[0] == "_") and segment.isascii() and \
            segment.replace("_", "a").isalnum():
        return segment
    return "`" + segment.replace("\\", "\\\\").replace("`", "\\`") + "`"

