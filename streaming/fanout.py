"""Event fan-out: one producer (the engine's worker) hands each event to every consumer that wants it.

Each consumer holds a bounded `Subscription`; a slow one loses its oldest events (counted) instead of holding the
producer up, unless it asked to be `lossless` (replay, the CLI), in which case the producer waits for it.

    fanout = Fanout()
    sub = fanout.subscribe("cam")          # events of stream "cam" only
    fanout.publish(event)                  # the worker
    for event in follow(sub, done):        # until `done` is set and the queue is drained
        ...
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

from streaming.events import Event

#: Longest `follow` waits on an empty subscription before it looks again at `done` and the deadline.
FOLLOW_WAIT_S = 0.5


class Subscription:
    """A bounded queue of engine events for one consumer (all streams, or one).

    When the consumer is slow the oldest events are dropped (and counted), so a stalled dashboard cannot
    stall the engine; a `lossless` subscription (replay, CLI) makes the engine wait instead.
    """

    def __init__(self, stream_id: str | None = None, maxsize: int = 256, lossless: bool = False):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.stream_id = stream_id
        self.maxsize = maxsize
        self.lossless = lossless
        self.dropped = 0
        self._events: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._events)

    def wants(self, event: Event) -> bool:
        return self.stream_id is None or event.stream == self.stream_id

    def offer(self, event: Event) -> None:
        """Called by the producer."""
        with self._cond:
            if self._closed:
                return
            if len(self._events) >= self.maxsize:
                if self.lossless:
                    self._cond.wait_for(lambda: len(self._events) < self.maxsize or self._closed)
                    if self._closed:
                        return
                else:
                    self._events.popleft()
                    self.dropped += 1
            self._events.append(event)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to `timeout` s (None: until one comes or the subscription closes)."""
        with self._cond:
            if not self._events and timeout != 0:
                self._cond.wait_for(lambda: self._events or self._closed, timeout)
            if not self._events:
                return None
            event = self._events.popleft()
            self._cond.notify_all()
            return event

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Event]:
        """Events until the subscription is closed (by the consumer or when the producer stops)."""
        while True:
            event = self.get()
            if event is None:
                return
            yield event


class Fanout:
    """The subscriptions of one producer; once closed, every subscription (present and future) is closed."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._closed = False

    def subscribe(self, stream_id: str | None = None, maxsize: int = 256, lossless: bool = False) -> Subscription:
        sub = Subscription(stream_id, maxsize, lossless)
        if self._closed:
            sub.close()
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        try:
            self._subs.remove(sub)
        except ValueError:
            pass  # already removed

    def publish(self, event: Event) -> None:
        for sub in list(self._subs):
            if sub.wants(event):
                sub.offer(event)

    def close(self) -> None:
        """Close every subscription: a lossless one may be what the producer is waiting on."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()


def follow(sub: Subscription, done: threading.Event, duration_s: float | None = None) -> Iterator[Event]:
    """Every event of `sub` until `done` is set (and what was queued before is read), the subscription closes,
    or `duration_s` passed; unsubscribes nothing (the caller owns `sub`)."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    while True:
        wait = FOLLOW_WAIT_S
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return
        finished = done.is_set()  # read before get(): all events of a finished producer are queued
        event = sub.get(timeout=wait)
        if event is not None:
            yield event
        elif finished or sub.closed:
            while (event := sub.get(timeout=0)) is not None:
                yield event
            return
