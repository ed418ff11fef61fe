"""The labels every function onto deploys carries, so the cloud itself says what runs there.

Why labels: the plan must be right from any clone (a teammate's, a CI
runner's) with no local state, so the deployed function has to say that
onto manages it and which bundle it runs. Cloud Functions keeps labels on
the function and both CLIs list them back (`gcloud functions list
--format=json`, `firebase functions:list --json`). They are set from the
manifest's `labels` (firebase-tools) and `--update-labels` (gcloud).

Label rules (Google Cloud): keys and values are lowercase letters, digits,
`_` and `-`, at most 63 characters. A sha256 hex digest has 64, so the hash
label holds its first 32 (128 bits: no two bundles of one project collide).
"""

from __future__ import annotations

import re

MANAGED_LABEL = "onto-managed"  # "true" on every function onto deployed
HASH_LABEL = "onto-hash"  # the bundle's content hash, shortened to HASH_LABEL_LENGTH
MODE_LABEL = "onto-mode"  # exactly-once or at-least-once, for people reading the console
HASH_LABEL_LENGTH = 32
_LABEL_RE = re.compile(r"^[a-z0-9_-]{0,63}$")


def hash_label(content_hash: str) -> str:
    """The label value of a content hash (also the form two hashes are compared in)."""
    return content_hash[:HASH_LABEL_LENGTH].lower()


def same_bundle(deployed_hash: str, bundle_hash: str) -> bool:
    """Whether a deployed function (full hash from the cache, or its label) runs this bundle."""
    return bool(deployed_hash) and hash_label(deployed_hash) == hash_label(bundle_hash)


def function_labels(mode: str, content_hash: str | None = None) -> dict[str, str]:
    """The labels of one deployed function; without `content_hash` (what the bundle hash covers) no hash label."""
    labels = {MODE_LABEL: mode.replace("_", "-"), MANAGED_LABEL: "true"}
    if content_hash:
        labels[HASH_LABEL] = hash_label(content_hash)
    for key, value in labels.items():
        if not (key and _LABEL_RE.match(key) and _LABEL_RE.match(value)):
            raise ValueError(f"label {key}={value} is not a Cloud Functions label ([a-z0-9_-], at most 63)")
    return labels


def labels_flag(labels: dict[str, str]) -> str:
    """gcloud's `--update-labels=k=v,...` (keeps labels others set, such as deployment-tool)."""
    return "--update-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
