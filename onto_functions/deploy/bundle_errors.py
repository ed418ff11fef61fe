"""What bundling says when it stops (`BundleError`) or leaves something out (`BundleWarning`).

Why a module of their own: every step of bundling (which files may go in,
the vendored runtime, the pins, writing the folder) raises them, and the
CLI catches them, without any of those steps importing the others.
"""

from __future__ import annotations


class BundleError(ValueError):
    """A bundle cannot be built safely; the message says which trigger, which file, and what to do."""


class BundleWarning(UserWarning):
    """Something was left out of a bundle (a credential, a test file) on purpose."""
