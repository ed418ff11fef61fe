"""The JSON-RPC 2.0 form of a callable: the seed's JSON-RPC connector, served by the same handler.

    POST {"jsonrpc": "2.0", "method": "toggle-attendance", "params": {...}, "id": 1}
    →    {"jsonrpc": "2.0", "result": ..., "id": 1}
    or   {"jsonrpc": "2.0", "error": {"code": -32602, "message": ..., "data": {"status": ..., "details": ...}}, "id": 1}

`method` is the function's name or its handler's; `params` is what a
callable's `data` is. Errors keep the callable status in `error.data.status`
so a client can tell UNAUTHENTICATED from PERMISSION_DENIED. Every answer is
HTTP 200 (the error is in the body, as JSON-RPC over HTTP does); a
notification (no `id`) is answered 204 with no body. Batches are refused.
"""

from __future__ import annotations

from typing import Any, Mapping

from .request_call import Call
from .request_errors import RequestError
from .request_wire import HttpAnswer, JSON_TYPE, json_bytes

VERSION = "2.0"
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
_CODES = {"INVALID_ARGUMENT": INVALID_PARAMS, "INTERNAL": INTERNAL_ERROR, "UNIMPLEMENTED": METHOD_NOT_FOUND,
          "UNAUTHENTICATED": -32001, "PERMISSION_DENIED": -32003, "NOT_FOUND": -32004}


def is_jsonrpc(body: Any) -> bool:
    return (isinstance(body, dict) and "jsonrpc" in body) or (isinstance(body, list) and any(
        isinstance(item, dict) and "jsonrpc" in item for item in body))


def read(body: Any, methods: tuple[str, ...]) -> Call:
    """The call a JSON-RPC request makes; a Call with a refusal when the request is not one."""
    if isinstance(body, list):
        return _refused(None, INVALID_REQUEST, "JSON-RPC batches are not served: send one request per call")
    rpc_id = body.get("id")
    problem = _problem(body, methods)
    if problem is not None:
        return _refused(rpc_id if _valid_id(rpc_id) else None, *problem)
    return Call("jsonrpc", "/", body.get("params"), rpc_id=rpc_id, notification="id" not in body)


def _problem(body: Mapping[str, Any], methods: tuple[str, ...]) -> tuple[int, str] | None:
    if body.get("jsonrpc") != VERSION:
        return INVALID_REQUEST, f"jsonrpc must be {VERSION!r}"
    unknown = sorted(set(body) - {"jsonrpc", "method", "params", "id"})
    if unknown:
        return INVALID_REQUEST, f"unknown member(s) {', '.join(unknown)}"
    if "id" in body and not _valid_id(body["id"]):
        return INVALID_REQUEST, "id must be a string, a number or null"
    if body.get("method") not in methods:
        return METHOD_NOT_FOUND, f"method {body.get('method')!r} is not served here; use {methods[0]!r}"
    return None


def _valid_id(rpc_id: Any) -> bool:
    return rpc_id is None or (isinstance(rpc_id, (str, int, float)) and not isinstance(rpc_id, bool))


def _refused(rpc_id: Any, code: int, message: str) -> Call:
    error = RequestError("INVALID_ARGUMENT", message, {"jsonrpcCode": code})
    return Call("jsonrpc", "/", None, rpc_id=rpc_id, refusal=error)


def success(call: Call, result_text: str) -> HttpAnswer:
    if call.notification:
        return HttpAnswer(204, b"", {})
    head = json_bytes({"jsonrpc": VERSION, "id": call.rpc_id})[:-1]  # '{"jsonrpc":"2.0","id":…' without '}'
    return HttpAnswer(200, head + b',"result":' + result_text.encode("utf-8") + b"}")


def failure(call: Call, error: RequestError) -> HttpAnswer:
    if call.notification:
        return HttpAnswer(204, b"", {})
    details = error.details if isinstance(error.details, dict) else {}
    code = details.get("jsonrpcCode") if "jsonrpcCode" in details else _CODES.get(error.status, SERVER_ERROR)
    data: dict[str, Any] = {"status": error.status}
    if error.details is not None and "jsonrpcCode" not in details:
        data["details"] = error.details
    body = {"jsonrpc": VERSION, "error": {"code": code, "message": error.message, "data": data}, "id": call.rpc_id}
    return HttpAnswer(200, json_bytes(body), {"Content-Type": JSON_TYPE})
