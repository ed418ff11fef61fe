"""One request as its protocol read it: the JSON data, path parameters, and how to answer it.

Each protocol (https_protocol.py, callable_protocol.py, jsonrpc.py) turns
the wire request into a `Call` and a result or an error back into bytes;
everything between (identity, access, schema, the unit of work, the
stored answer of an exactly-once request) is the same for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .request_errors import RequestError


@dataclass(frozen=True)
class Call:
    protocol: str  # "https", "callable" or "jsonrpc"
    path: str  # below the function ("/" for a callable)
    data: Any  # the JSON body (callable: its `data`; JSON-RPC: its `params`)
    params: Mapping[str, str] = field(default_factory=dict)  # a route's path parameters
    rpc_id: Any = None  # a JSON-RPC request's id
    notification: bool = False  # a JSON-RPC request without an id: it expects no answer
    refusal: RequestError | None = None  # why the call cannot be served, found while reading it
