"""A small in-memory log the background examples write to, one per worker process."""

import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something a background job did, and when."""

    kind: str
    message: str
    at: float = field(default_factory=time.time)


class EventLog:
    """Keeps the newest `maxlen` events; old ones fall off."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)

    def record(self, kind: str, message: str) -> Event:
        """Append an event and return it."""
        event = Event(kind, message)
        self._events.append(event)
        return event

    def find(self, kind: str, message: str) -> Event | None:
        """The newest event of `kind` with `message`, if any."""
        return next(
            (e for e in reversed(self._events) if e.kind == kind and e.message == message),
            None,
        )

    def as_dicts(self) -> list[dict[str, Any]]:
        """Every kept event, oldest first."""
        return [asdict(e) for e in self._events]
