"""The Pub/Sub emulator (the gcloud SDK's jar), started and stopped like the Firestore one.

Why: message triggers must be rehearsed against the real thing, the way
production feeds them: a topic, and a push subscription per trigger whose
endpoint is the function host (what Eventarc's own subscription is in the
cloud). The emulator sends the push JSON form with no ce-* headers; the host
stores it durably before answering 200, so the emulator's own at-least-once
push and the host's redelivery stack up the way production's do.

Found at `<gcloud sdk root>/platform/pubsub-emulator/lib/cloud-pubsub-emulator-*.jar`
(or $ONTO_PUBSUB_EMULATOR_JAR), run as `java -jar JAR --host=127.0.0.1 --port=P`
in its own process group. Its REST API (topics, subscriptions, publish) is
spoken here with urllib only.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Mapping

from .emulator_api import EmulatorError, answers_ok
from .installation import _COMMON_SDK_ROOTS, EmulatorNotFound, _gcloud_sdk_root, find_java
from .loopback import free_port
from .owned_process import OwnedProcess

JAR_ENV = "ONTO_PUBSUB_EMULATOR_JAR"
_SDK_LIB = Path("platform/pubsub-emulator/lib")
_FIX_HINT = (f"Install it with `gcloud components install pubsub-emulator` "
             f"(or `apt-get install google-cloud-cli-pubsub-emulator`), or set {JAR_ENV} to its jar.")


def find_pubsub_emulator_jar() -> Path:
    """$ONTO_PUBSUB_EMULATOR_JAR, else the gcloud SDK's jar (usual roots, then `gcloud info`)."""
    explicit = os.environ.get(JAR_ENV)
    if explicit:
        if Path(explicit).is_file():
            return Path(explicit)
        raise EmulatorNotFound(f"{JAR_ENV}={explicit!r} is not a file. {_FIX_HINT}")
    roots = list(_COMMON_SDK_ROOTS)
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
        sdk_root = _gcloud_sdk_root(gcloud)
        roots += [sdk_root] if sdk_root else []
    looked = []
    for root in dict.fromkeys(roots):
        jars = sorted((root / _SDK_LIB).glob("cloud-pubsub-emulator-*.jar"))
        if jars:
            return jars[-1]
        looked.append(str(root / _SDK_LIB / "cloud-pubsub-emulator-*.jar"))
    raise EmulatorNotFound("Pub/Sub emulator jar not found. Looked in:\n  " + "\n  ".join(looked) + f"\n{_FIX_HINT}")


class PubSubEmulator(OwnedProcess):
    """One Pub/Sub emulator java process, owned by this object; `host` is PUBSUB_EMULATOR_HOST's form."""

    def __init__(self, *, port: int = 0, startup_timeout: float = 60.0, log_dir: Path | None = None) -> None:
        self.port = port
        self.startup_timeout = startup_timeout
        self.log_dir = log_dir

    def start(self) -> PubSubEmulator:
        jar, java = find_pubsub_emulator_jar(), find_java()
        log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="onto-pubsub-emulator-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.log_path = log_dir / f"pubsub-emulator-{self.port}.log"
        self._launch([str(java), "-jar", str(jar), "--host=127.0.0.1", f"--port={self.port}"], cwd=log_dir,
                     answers=lambda: answers_ok(f"http://{self.host}"), what="the Pub/Sub emulator")
        return self


class PubSubClient:
    """The emulator's REST API for one project: topics, push subscriptions, publishing."""

    def __init__(self, host: str, project: str) -> None:
        self.host = host
        self.project = project

    def create_topic(self, topic: str) -> None:
        """Create `topic`; one that exists already is kept."""
        self._call("PUT", f"topics/{_q(topic)}", None, allow=(409,))

    def push_to(self, subscription: str, topic: str, endpoint: str, *, ack_deadline_seconds: int = 60) -> None:
        """(Re)create a push subscription of `topic` delivering to `endpoint`."""
        self.create_topic(topic)
        self._call("DELETE", f"subscriptions/{_q(subscription)}", None, allow=(404,))
        self._call("PUT", f"subscriptions/{_q(subscription)}", {
            "topic": f"projects/{self.project}/topics/{topic}",
            "pushConfig": {"pushEndpoint": endpoint}, "ackDeadlineSeconds": ack_deadline_seconds,
        })

    def publish(self, topic: str, messages: Iterable[Mapping[str, Any]]) -> list[str]:
        """Publish messages `{"data": bytes|str|JSON value, "attributes": {...}, "ordering_key": ...}`;
        their message ids, in order. At most 1,000 per request, as Pub/Sub allows."""
        ids: list[str] = []
        batch: list[dict[str, Any]] = []
        for message in messages:
            batch.append(_wire_message(message))
            if len(batch) == 1000:
                ids += self._publish(topic, batch)
                batch = []
        return ids + (self._publish(topic, batch) if batch else [])

    def _publish(self, topic: str, batch: list[dict[str, Any]]) -> list[str]:
        answer = self._call("POST", f"topics/{_q(topic)}:publish", {"messages": batch})
        return list(answer.get("messageIds", []))

    def _call(self, method: str, path: str, body: Any, allow: tuple[int, ...] = ()) -> dict[str, Any]:
        url = f"http://{self.host}/v1/projects/{_q(self.project)}/{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            if err.code in allow:
                return {}
            raise EmulatorError(f"{method} {url} -> {err.code}: {err.read().decode(errors='replace')[:1000]}") from None
        return json.loads(payload) if payload.strip() else {}


def _wire_message(message: Mapping[str, Any]) -> dict[str, Any]:
    data = message.get("data", b"")
    if not isinstance(data, (bytes, str)):
        data = json.dumps(data)
    raw = data.encode() if isinstance(data, str) else data
    wire: dict[str, Any] = {"data": base64.b64encode(raw).decode("ascii")}
    if message.get("attributes"):
        wire["attributes"] = dict(message["attributes"])
    if message.get("ordering_key"):
        wire["orderingKey"] = message["ordering_key"]
    return wire


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
