"""The meeting room's domain: what users and the admin write."""

from onto_functions import DomainModel, fields


class Location(DomainModel):
    class Meta:
        collection = "locations"

    address = fields.Str(required=True)
    latitude = fields.Float(load_default=None, allow_none=True)
    longitude = fields.Float(load_default=None, allow_none=True)


class User(DomainModel):
    class Meta:
        collection = "users"

    first_name = fields.Str(required=True)
    last_name = fields.Str(required=True)
    hearing_aid_requested = fields.Bool(load_default=False)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Meeting(DomainModel):
    class Meta:
        collection = "meetings"

    location = fields.Ref(Location, required=True)
    users = fields.List(fields.Ref(User), load_default=list)
    status = fields.Str(load_default="not-started")  # "not-started" | "in-session" | "closed"


class Ticket(DomainModel):
    """One participant's place in one meeting; `attendance` is what they toggle."""

    class Meta:
        collection = "tickets"

    meeting = fields.Ref(Meeting, required=True)
    user = fields.Ref(User, required=True)
    attendance = fields.Bool(load_default=False)
