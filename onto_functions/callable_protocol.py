"""The Firebase callable protocol, as firebase-functions' `https_fn.on_call` speaks it.

The client SDKs' `httpsCallable(name)(data)` POSTs `{"data": ...}` as
`application/json`, with the caller's ID token as `Authorization: Bearer`
and an App Check token as `X-Firebase-AppCheck`. The answer is 200
`{"result": ...}`, or `{"error": {"status", "message"[, "details"]}}` with the
HTTP code of that status (request_errors.CALLABLE_HTTP_STATUS). A request
that is not a POST, not JSON, or not an object with exactly the key "data"
is INVALID_ARGUMENT (400), as on_call answers it ("Bad Request"; here the
message says which rule it broke).

A body with a "jsonrpc" member is the JSON-RPC 2.0 form of the same call
(jsonrpc.py).
"""

from __future__ import annotations

from typing import Any, Mapping

from . import jsonrpc
from .request_call import Call
from .request_errors import RequestError
from .request_wire import HttpAnswer, error_body, is_json, parse_json


def read(method: str, headers: Mapping[str, str], body: bytes, rpc_methods: tuple[str, ...]) -> Call:
    """The call a request makes; RequestError(400) when it breaks the protocol."""
    if method != "POST":
        raise RequestError("INVALID_ARGUMENT", f"a callable takes POST requests, not {method}")
    if not is_json(headers):
        raise RequestError("INVALID_ARGUMENT", "a callable takes Content-Type: application/json")
    payload = parse_json(body)
    if jsonrpc.is_jsonrpc(payload):
        return jsonrpc.read(payload, rpc_methods)
    if not isinstance(payload, dict) or "data" not in payload:
        raise RequestError("INVALID_ARGUMENT", 'a callable\'s body is {"data": ...}')
    extra = sorted(k for k in payload if k != "data")
    if extra:
        raise RequestError("INVALID_ARGUMENT", f'a callable\'s body has only "data"; it has {", ".join(extra)} too')
    return Call("callable", "/", payload["data"])


def success(call: Call, result_text: str) -> HttpAnswer:
    if call.protocol == "jsonrpc":
        return jsonrpc.success(call, result_text)
    return HttpAnswer(200, b'{"result":' + result_text.encode("utf-8") + b"}")


def failure(call: Call | None, error: RequestError) -> HttpAnswer:
    if call is not None and call.protocol == "jsonrpc":
        return jsonrpc.failure(call, error)
    return HttpAnswer(error.callable_http_status, error_body(error))


def idempotency_key_of(data: Any, field: str) -> tuple[Any, Any]:
    """(the key in the call's data, the data without it): the schema never sees the key field."""
    if isinstance(data, dict) and field in data:
        rest = {k: v for k, v in data.items() if k != field}
        return data[field], rest
    return None, data
