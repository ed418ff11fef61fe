"""A local stand-in for Google's Secret Manager REST API, so the REAL gcloud can check secrets offline.

Why: `onto deploy` asks `gcloud secrets versions describe latest --secret NAME`
whether each declared secret exists, and a test must show that it reads what
the real program prints, for a secret that exists, one that does not, and one
whose latest version is disabled. gcloud accepts an endpoint override
(CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER), so it runs unchanged against
this server. It is the Cloud Functions stand-in (`functions_api`, whose
listing a deploy reads first) plus the one read call the check makes
(`GET /v1/projects/P/secrets/NAME/versions/latest`), answered with the v1
`SecretVersion` resource (name, createTime, state) or Google's error body.
Values are never asked for, so it holds none.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.functions_api import FunctionsApi

_LATEST = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/?]+)/versions/latest(?:\?.*)?$")


class SecretManagerApi(FunctionsApi):
    """Both APIs on one server; `secrets` maps a secret name to its latest version's state."""

    def __init__(self, secrets: dict[str, str]) -> None:
        super().__init__()
        self.secrets = dict(secrets)
        api = self
        functions_handler = self._server.RequestHandlerClass

        class Handler(functions_handler):  # type: ignore[valid-type,misc]
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                match = _LATEST.match(self.path)
                if match is None:
                    return super().do_GET()
                api.requests.append(f"GET {self.path}")
                project, name = match.groups()
                if name in api.secrets:
                    self._answer({"name": f"projects/{project}/secrets/{name}/versions/2",
                                  "createTime": "2026-11-28T10:00:00Z", "state": api.secrets[name]})
                else:
                    self._answer({"error": {"code": 404, "status": "NOT_FOUND",
                                            "message": f"Secret [{name}] not found or has no versions."}}, 404)

        self._server.RequestHandlerClass = Handler

    def gcloud_env(self, config_dir: Path) -> dict[str, str]:
        """gcloud aimed at this server for both APIs."""
        return {**super().gcloud_env(config_dir), "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": self.url + "/"}
