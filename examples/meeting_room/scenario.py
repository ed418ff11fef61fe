"""The demo's story, runnable against any running stack: seed, toggle, read.

Kept apart from how events reach the functions (a minimal receiver today,
`onto emulate` later) so the test and the demo tell the same story.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from onto_functions import Store

from .models import Location, Meeting, Ticket, User
from .views import MeetingSession

PARTICIPANTS = {
    "alice": ("Alice", "Ng", False),
    "bob": ("Bob", "Ortiz", True),
    "carol": ("Carol", "Diaz", False),
}
MEETING_ID = "standup"


@dataclass(frozen=True)
class Result:
    views: dict[str, MeetingSession]
    seconds_to_converge: float


def seed(db: Any) -> None:
    """A meeting in session with three participants; Carol has not confirmed yet."""
    store = Store(db)
    store.create(Location("room-1", address="Room 1, 2nd floor"))
    for uid, (first, last, aid) in PARTICIPANTS.items():
        store.create(User(uid, first_name=first, last_name=last, hearing_aid_requested=aid))
    users = [User.path_for(uid) for uid in PARTICIPANTS]
    store.create(Meeting(MEETING_ID, location=Location.path_for("room-1"), users=users, status="in-session"))
    for uid in PARTICIPANTS:
        store.create(Ticket(f"{MEETING_ID}-{uid}", meeting=Meeting.path_for(MEETING_ID),
                            user=User.path_for(uid), attendance=uid != "carol"))


def views(db: Any) -> dict[str, MeetingSession | None]:
    store = Store(db)
    return {uid: store.get_view(MeetingSession, user_id=uid, meeting_id=MEETING_ID) for uid in PARTICIPANTS}


def all_attending(expected: int) -> Callable[[Any], dict[str, MeetingSession] | None]:
    def check(db: Any) -> dict[str, MeetingSession] | None:
        current = views(db)
        if all(v is not None and v.num_attending == expected for v in current.values()):
            return current  # type: ignore[return-value]
        return None

    return check


def toggle_directly(db: Any) -> Callable[[str], Any]:
    """Toggle a participant's attendance by writing their ticket, as a script with database access would."""
    def toggle(uid: str) -> None:
        store = Store(db)
        ticket = store.get(Ticket, f"{MEETING_ID}-{uid}")
        ticket.attendance = not ticket.attendance
        store.save(ticket)

    return toggle


def run(db: Any, wait: Callable[[Callable[[], Any], str], Any],
        toggle: Callable[[str], Any] | None = None) -> Result:
    """Seed, wait for the first views, toggle Carol's attendance, wait for all three views.

    `toggle(uid)` changes one participant's attendance: by default a direct
    write of the ticket; `onto demo` calls the `toggle-attendance` callable
    as Carol instead."""
    seed(db)
    wait(lambda: all_attending(2)(db), "the first MeetingSession views (2 attending)")
    started = time.perf_counter()
    (toggle or toggle_directly(db))("carol")
    final = wait(lambda: all_attending(3)(db), "every participant's view to show Carol attending")
    return Result(final, time.perf_counter() - started)
