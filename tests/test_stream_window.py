"""The per-stream window rules on their own: features and timestamps in, due windows out; no model, no I/O."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.stream_window import GAP_RESET_S, Due, StreamWindow

RATE = 5.0  # features per second


def feed(win: StreamWindow, times, person=None) -> list:
    """Push one feature per time (feature value = its running number), take every window that is due (as the
    engine does), and return the updates."""
    persons = person if isinstance(person, list) else [person] * len(times)
    out = np.zeros((win.window, 2), np.float32)
    ups = []
    for i, (t, p) in enumerate(zip(times, persons, strict=True)):
        ups.append(win.push(np.full(2, i, np.float32), t, p))
        if ups[-1].due is Due.WINDOW:
            win.take_window(out)
    return ups


def ticks(n: int, t0: float = 0.0) -> list[float]:
    return [t0 + i / RATE for i in range(n)]


def test_warm_up_then_a_window_every_hop():
    win = StreamWindow(window=8, dim=2, hop=5)
    ups = feed(win, ticks(20))
    due = [i + 1 for i, u in enumerate(ups) if u.due is Due.WINDOW]
    assert due == [8, 13, 18]
    warm = [(i + 1, u.warmup) for i, u in enumerate(ups) if u.warmup is not None]
    assert warm == [(1, 1 / 8), (5, 5 / 8)]  # the first feature, then every hop, while warming up
    assert all(not u.restarted for u in ups)


def test_taken_windows_are_ordered_and_spaced_by_hop():
    win = StreamWindow(window=8, dim=2, hop=5)
    out = np.zeros((8, 2), np.float32)
    due_at = []
    for i, t in enumerate(ticks(20)):
        if win.push(np.full(2, i, np.float32), t).due is Due.WINDOW:
            win.take_window(out)
            due_at.append(i + 1)
            assert out[:, 0].tolist() == list(range(i - 7, i + 1))  # oldest first, the newest last
    assert due_at == [8, 13, 18] and win.windows == 3 and win.features == 20
    assert win.finish() is Due.WINDOW  # features 19, 20 are not in a window yet: the last seconds
    win.take_window(out)
    assert out[-1, 0] == 19 and win.finish() is Due.NOTHING


def test_a_short_stream_gets_one_looped_partial_window():
    win = StreamWindow(window=8, dim=2, hop=5)
    feed(win, ticks(3))
    assert win.finish() is Due.PARTIAL
    out = np.zeros((8, 2), np.float32)
    win.take_window(out, partial=True)
    assert out[:, 0].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert win.finish() is Due.NOTHING
    assert StreamWindow(window=8, dim=2, hop=5).finish() is Due.NOTHING  # nothing ever pushed


def test_a_gap_in_stream_time_restarts_the_window():
    win = StreamWindow(window=8, dim=2, hop=5)
    feed(win, ticks(10))  # 0 .. 1.8 s
    up = win.push(np.zeros(2, np.float32), 10.0)
    assert up.restarted == "gap of 8.2 s in the stream" and win.count == 1
    assert up.warmup == 1 / 8 and up.due is Due.NOTHING
    # a gap of exactly the bound is not a gap
    win2 = StreamWindow(window=8, dim=2, hop=5)
    feed(win2, [0.0, GAP_RESET_S])
    assert win2.count == 2


def test_a_window_not_taken_stays_due():
    win = StreamWindow(window=8, dim=2, hop=5)
    ups = [win.push(np.zeros(2, np.float32), t) for t in ticks(10)]
    assert [u.due for u in ups[7:]] == [Due.WINDOW] * 3


def test_after_a_restart_the_first_full_window_is_due_at_once_and_the_end_is_not_partial():
    win = StreamWindow(window=8, dim=2, hop=5)
    feed(win, ticks(8))
    feed(win, ticks(3, t0=20.0))
    assert win.count == 3 and win.finish() is Due.NOTHING  # it had a window before: no looped partial one
    ups = feed(win, ticks(5, t0=20.6))
    assert ups[-1].due is Due.WINDOW  # 8 features since the restart


def test_a_restart_of_an_empty_window_says_nothing():
    win = StreamWindow(window=8, dim=2, hop=5)
    win.restart_next("reconnected")  # no frame yet: nothing to restart
    assert not feed(win, [0.0])[0].restarted
    win.restart_next("reconnected")
    ups = feed(win, [0.2, 0.4])
    assert ups[0].restarted == "reconnected" and not ups[1].restarted and win.count == 2


def test_nobody_in_view_longer_than_the_bound_restarts_when_a_person_comes_back():
    win = StreamWindow(window=8, dim=2, hop=5)
    feed(win, ticks(5), person=True)  # 0 .. 0.8 s
    ups = feed(win, ticks(10, t0=1.0), person=False)  # 1.0 .. 2.8 s: nobody
    assert not any(u.restarted for u in ups) and win.person_in_view is False
    up = win.push(np.ones(2, np.float32), 3.0, True)  # 2.2 s after the last person
    assert up.restarted == "nobody in view for 2.2 s" and win.count == 1 and win.person_in_view is True


def test_a_short_absence_keeps_the_window():
    win = StreamWindow(window=8, dim=2, hop=5)
    persons = [True] * 4 + [False] * 5 + [True] * 3  # absent 1 s
    ups = feed(win, ticks(12), person=persons)
    assert not any(u.restarted for u in ups) and win.count == 12
    assert [i + 1 for i, u in enumerate(ups) if u.due is Due.WINDOW] == [8]  # on schedule, whoever is in view


def test_a_stream_that_starts_empty_restarts_when_the_person_arrives_late():
    win = StreamWindow(window=8, dim=2, hop=5)
    feed(win, ticks(15), person=False)  # 0 .. 2.8 s, nobody
    assert win.push(np.ones(2, np.float32), 3.0, True).restarted == "nobody in view for 3.0 s"
    late = StreamWindow(window=8, dim=2, hop=5)
    feed(late, ticks(5), person=False)  # 0.8 s of nobody: kept, as training keeps such frames
    assert not late.push(np.ones(2, np.float32), 1.0, True).restarted and late.count == 6


def test_extractors_that_do_not_look_for_people_never_restart_for_it():
    win = StreamWindow(window=8, dim=2, hop=5)
    ups = feed(win, ticks(20), person=None)
    assert not any(u.restarted for u in ups) and win.person_in_view is None


def test_bad_settings():
    with pytest.raises(ValueError):
        StreamWindow(window=8, dim=2, hop=0)
    with pytest.raises(ValueError):
        StreamWindow(window=8, dim=2, hop=1, gap_reset_s=0)
