"""Build DocumentEvents in tests, the way the platform would describe a change.

The builders live in `onto_functions.synthetic` (the local host builds events
for `onto invoke` too); this module keeps the name tests import them by.
"""

from __future__ import annotations

from ..synthetic import document_event, next_time

__all__ = ["document_event", "next_time"]
