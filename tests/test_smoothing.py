"""EMA smoothing and hysteresis of the displayed label."""

import numpy as np
import pytest

from streaming.smoothing import Smoother

A, B = np.array([0.9, 0.1], np.float32), np.array([0.1, 0.9], np.float32)


def test_ema_weights_the_newest_window_by_alpha():
    s = Smoother(2, alpha=0.25, hold_s=0.0)
    _, _, probs = s.update(A, 0.0)
    assert np.allclose(probs, A)
    _, _, probs = s.update(B, 1.0)
    assert np.allclose(probs, 0.75 * A + 0.25 * B)


def test_one_stray_window_does_not_flip_the_label():
    s = Smoother(2, alpha=0.9, hold_s=1.0)
    labels = [s.update(p, t)[0] for t, p in enumerate([A, A, B, A, A])]
    assert labels == [0, 0, 0, 0, 0]


def test_a_new_label_must_lead_for_hold_seconds():
    s = Smoother(2, alpha=1.0, hold_s=2.0)
    labels = [s.update(p, t)[0] for t, p in enumerate([A, B, B, B, B])]
    assert labels == [0, 0, 0, 1, 1]  # B leads from t=1; shown at t=3


def test_tolerance_absorbs_sampling_jitter():
    s = Smoother(2, alpha=1.0, hold_s=1.0, tolerance_s=0.05)
    assert [s.update(p, t)[0] for t, p in [(0.0, A), (1.0, B), (1.96, B)]] == [0, 0, 1]


def test_zero_hold_follows_the_ema_and_score_is_the_shown_labels_probability():
    s = Smoother(2, alpha=1.0, hold_s=0.0)
    assert s.update(A, 0)[:2] == (0, pytest.approx(0.9))
    assert s.update(B, 1)[:2] == (1, pytest.approx(0.9))


def test_reset_forgets_everything():
    s = Smoother(2, alpha=0.5, hold_s=5.0)
    s.update(A, 0)
    s.reset()
    assert s.update(B, 10)[0] == 1


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_classes=0), dict(n_classes=2, alpha=0.0), dict(n_classes=2, alpha=1.5), dict(n_classes=2, hold_s=-1.0)],
)
def test_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        Smoother(**kwargs)
