"""A local stand-in for Google's Secret Manager REST API, so the REAL gcloud can check secrets offline.

Why: `onto deploy` asks `gcloud secrets versions describe latest --secret NAME`
whether each declared secret exists, and a test must show that it reads what
the real program prints, for a secret that exists, one that does not, and one
whose latest version is disabled. gcloud accepts an endpoint override
(CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER) and an access-token file, so
it runs unchanged against this server. It serves the one read call the check
makes (`GET /v1/projects/P/secrets/NAME/versions/latest`), with the v1
`SecretVersion` resource (name, createTime, state) or Google's error body.
Values are never asked for, so it holds none.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_LATEST = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/]+)/versions/latest(?:\?.*)?$")


class SecretManagerApi:
    """The server; `secrets` maps a secret name to its latest version's state; `requests` is what it was asked."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                api.requests.append(f"GET {self.path}")
                match = _LATEST.match(self.path)
                if match and match.group(2) in api.secrets:
                    project, name = match.groups()
                    self._answer(200, {"name": f"projects/{project}/secrets/{name}/versions/2",
                                       "createTime": "2026-11-28T10:00:00Z", "state": api.secrets[name]})
                else:
                    name = match.group(2) if match else self.path
                    self._answer(404, {"error": {"code": 404, "status": "NOT_FOUND",
                                                 "message": f"Secret [{name}] not found or has no versions."}})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "SecretManagerApi":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def gcloud_env(self, config_dir: Path) -> dict[str, str]:
        """gcloud aimed at this server: a throwaway config, a token file, the endpoint override."""
        config_dir.mkdir(parents=True, exist_ok=True)
        token = config_dir / "access-token"
        token.write_text("stand-in\n")
        return {"CLOUDSDK_CONFIG": str(config_dir), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
                "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
                "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": self.url + "/"}
