"""Secrets and parameters of a function: declared by name, read from the environment at call time.

A mediator declares what its handlers read (`class Meta: secrets = ("STRIPE_KEY",)`,
`params = ("GREETING",)`, or the same on one decorator); deploy turns the names into
Secret Manager references and environment variables, and the local stack passes
`.secret.local` / `.env.local` values to its workers. Either way the platform sets an
environment variable per name, so the handler reads it with `secret("STRIPE_KEY")` or
`param("GREETING")` when it runs: a value never passes through a bundle, a manifest
or a log line.

Why names are checked here: Cloud Functions and firebase-tools refuse some
environment variable names (firebase-tools' `functions/env.ts`: upper case
letters, digits and underscores; the prefixes X_GOOGLE_, FIREBASE_, EXT_,
KIT_; the keys the platform sets itself). A name they refuse would fail the
deploy of that one function, late; here it fails at import, naming it.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

__all__ = ["MissingSetting", "check_setting_names", "param", "secret"]

NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Prefixes firebase-tools reserves (X_GOOGLE_, FIREBASE_, EXT_, KIT_), Google's and Knative's runtime
# variables (GOOGLE_*, K_*) and onto's own settings (ONTO_*).
RESERVED_PREFIXES = ("X_GOOGLE_", "FIREBASE_", "EXT_", "KIT_", "GOOGLE_", "K_", "ONTO_")
# firebase-tools' RESERVED_KEYS, and what the local stack sets for its workers.
RESERVED_NAMES = frozenset({
    "FIREBASE_CONFIG", "CLOUD_RUNTIME_CONFIG", "EVENTARC_CLOUD_EVENT_SOURCE", "ENTRY_POINT", "GCP_PROJECT",
    "GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT", "FUNCTION_TRIGGER_TYPE", "FUNCTION_NAME", "FUNCTION_MEMORY_MB",
    "FUNCTION_TIMEOUT_SEC", "FUNCTION_IDENTITY", "FUNCTION_REGION", "FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE",
    "K_SERVICE", "K_REVISION", "PORT", "K_CONFIGURATION",
    "FIRESTORE_EMULATOR_HOST", "FUNCTIONS_EMULATOR", "PUBSUB_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST",
    "PYTHONPATH", "PATH", "HOME", "THREADS", "WORKERS",
})

_WHERE = {
    "secret": "Secret Manager for a deploy, .secret.local beside firebase.json for `onto emulate`",
    "param": ".env or .env.<project> for a deploy, .env.local or .env for `onto emulate`",
}


class MissingSetting(LookupError):
    """A secret or parameter a handler asked for is not in its function's environment."""


def secret(name: str) -> str:
    """The value of secret `name`, as the platform set it for this function. Never log it."""
    return _read(name, "secret")


def param(name: str) -> str:
    """The value of (non-secret) parameter `name`, as deploy or the local stack set it."""
    return _read(name, "param")


def _read(name: str, kind: str) -> str:
    value = os.environ.get(name)
    if value is None:
        function = os.environ.get("K_SERVICE") or os.environ.get("FUNCTION_TARGET") or "this function"
        raise MissingSetting(
            f"{kind} {name!r} is not set for function {function!r}: declare it ({kind}s = (\"{name}\",) in "
            f"the mediator's Meta or on the trigger) and give it a value ({_WHERE[kind]})"
        )
    return value


def check_setting_names(value: object, option: str) -> tuple[str, ...]:
    """`value` (one name, or a sequence of names) as a tuple; ValueError naming what Cloud Functions would refuse."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise ValueError(f"{option} must be a sequence of names, got {value!r}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(f"{option}: {name!r} is not an environment variable name "
                             "(upper case letters, digits and underscores, not starting with a digit)")
        if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{option}: {name!r} is reserved by Cloud Functions, firebase-tools or onto "
                             f"(reserved: the prefixes {', '.join(RESERVED_PREFIXES)} and the platform's own variables)")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{option}: {', '.join(duplicates)} declared twice")
    return names
