"""A local stand-in for Google's Cloud Functions REST API, so the REAL gcloud and firebase CLIs can list offline.

Why: the plan reads what is deployed through `gcloud functions list` and
`firebase functions:list`, and a test must show what those real programs
print. Both accept an API endpoint override (gcloud:
CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS and an access-token file;
firebase-tools: FIREBASE_FUNCTIONS_V2_URL & co. and FIREBASE_TOKEN), so
they run unchanged against this server and print their own JSON.
It serves only the read calls a listing makes: the v2 and v1 function
lists (`GET /v{1,2}/projects/P/locations/-/functions`), firebase-tools'
permission check (`POST /v1/projects/P:testIamPermissions`) and its token
exchange (`POST /oauth2/v3/token`). Resources follow the v2 `Function`
reference (name, labels, state, updateTime, buildConfig, serviceConfig,
eventTrigger, environment).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.json_answers import answer


def v2_function(project: str, region: str, name: str, labels: dict[str, str], state: str = "ACTIVE") -> dict[str, Any]:
    """One Cloud Functions v2 resource as the API returns it."""
    return {
        "name": f"projects/{project}/locations/{region}/functions/{name}",
        "buildConfig": {"runtime": "python312", "entryPoint": name.replace("-", "_"), "source": {}},
        "serviceConfig": {"availableMemory": "256Mi", "timeoutSeconds": 60,
                          "service": f"projects/{project}/locations/{region}/services/{name}"},
        "eventTrigger": {"eventType": "google.cloud.firestore.document.v1.written",
                         "retryPolicy": "RETRY_POLICY_RETRY",
                         "eventFilters": [{"attribute": "database", "value": "(default)"}]},
        "state": state, "updateTime": "2026-11-28T10:00:00.123456Z", "environment": "GEN_2",
        "labels": labels, "url": f"https://{name}-abc123-uc.a.run.app",
    }


class FunctionsApi:
    """The server; `functions` is what it lists (change it between calls), `requests` what it was asked."""

    def __init__(self, functions: list[dict[str, Any]] | None = None) -> None:
        self.functions = list(functions or [])
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                api.requests.append(f"GET {self.path}")
                self._answer({"functions": api.functions if self.path.startswith("/v2/") else []})

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.requests.append(f"POST {self.path}")
                if ":testIamPermissions" in self.path:
                    self._answer({"permissions": json.loads(body)["permissions"]})
                else:
                    self._answer({"access_token": "stand-in", "expires_in": 3600, "token_type": "Bearer"})

            def _answer(self, body: dict[str, Any], status: int = 200) -> None:
                answer(self, status, body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FunctionsApi":
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
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS": self.url + "/"}

    def firebase_env(self, home: Path) -> dict[str, str]:
        """firebase-tools aimed at this server: a throwaway HOME, a token, every origin a listing uses."""
        home.mkdir(parents=True, exist_ok=True)
        return {"HOME": str(home), "CI": "1", "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true", "FIREBASE_TOKEN": "stand-in",
                **{name: self.url for name in ("FIREBASE_TOKEN_URL", "FIREBASE_RESOURCEMANAGER_URL",
                                               "FIREBASE_FUNCTIONS_URL", "FIREBASE_FUNCTIONS_V2_URL")}}
