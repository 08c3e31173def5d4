"""A tiny publish/subscribe hub: the core says what happened, the faces decide who hears it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("stepui.events")


@dataclass(frozen=True)
class Event:
    """Something that happened: ``kind`` is a dotted name such as ``cert.issued``."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class Events:
    """Subscribers are called synchronously in the publisher's thread; a failing subscriber is
    logged and never breaks the action that published."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, kind: str, /, **data: Any) -> None:
        event = Event(kind, data)
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", kind)


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock; tests inject their own."""
    return datetime.now(UTC)
