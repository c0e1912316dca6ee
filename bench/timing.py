"""Timing a call repeatedly, after a warm-up, until both a minimum time and a minimum count have passed.

The median call time is reported: on a shared machine a neighbour's burst moves the mean, not the median.

    t = time_calls(lambda: session.run(None, feeds), items=8, budget=Budget(seconds=3, calls=5))
    print(t.ms_per_item, t.items_per_s)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """How long to time one configuration: at least `seconds` and at least `calls` calls, after `warmup` calls."""

    seconds: float = 3.0
    calls: int = 5
    warmup: int = 2

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.calls < 1 or self.warmup < 0:
            raise ValueError(f"bad timing budget {self}")


@dataclass(frozen=True)
class Timing:
    """Per-call times of one configuration; `items` is what one call processes (frames, windows)."""

    items: int
    call_s: tuple[float, ...]

    @property
    def median_call_s(self) -> float:
        return statistics.median(self.call_s)

    @property
    def ms_per_item(self) -> float:
        return 1000.0 * self.median_call_s / self.items

    @property
    def items_per_s(self) -> float:
        return self.items / self.median_call_s

    @property
    def calls(self) -> int:
        return len(self.call_s)


def time_calls(fn: Callable[[], object], items: int, budget: Budget) -> Timing:
    """Call `fn` `budget.warmup` times untimed, then time it until the budget is spent."""
    for _ in range(budget.warmup):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + budget.seconds
    while len(times) < budget.calls or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(items=items, call_s=tuple(times))
