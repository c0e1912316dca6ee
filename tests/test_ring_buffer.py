"""The per-stream ring buffer: order, wrap-around, no allocation per push."""

import numpy as np
import pytest

from streaming.ring_buffer import RingBuffer


def rows(values, dim=3):
    return [np.full(dim, v, np.float32) for v in values]


def test_keeps_the_latest_rows_oldest_first_across_wrap_arounds():
    ring = RingBuffer(window=5, dim=3)
    assert len(ring) == 0 and not ring.full and ring.view().shape == (0, 3)
    for i, row in enumerate(rows(range(13)), 1):
        ring.push(row)
        expected = list(range(max(0, i - 5), i))
        assert ring.view()[:, 0].tolist() == expected
        assert len(ring) == min(i, 5)
    assert ring.full and ring.count == 13
    assert (ring.view() == np.repeat(np.arange(8, 13, dtype=np.float32)[:, None], 3, axis=1)).all()


def test_view_is_a_read_only_window_into_the_preallocated_buffer():
    ring = RingBuffer(window=4, dim=2)
    buffer = ring._data
    for row in rows(range(11), dim=2):
        ring.push(row)
        view = ring.view()
        assert np.shares_memory(view, buffer)  # no copy, no new array per push
        assert view.flags.c_contiguous
    assert ring._data is buffer
    with pytest.raises(ValueError):
        ring.view()[0, 0] = 1.0


def test_copy_to_fills_a_batch_slot_in_order_and_reset_starts_over():
    ring = RingBuffer(window=3, dim=2)
    for row in rows([1, 2, 3, 4], dim=2):
        ring.push(row)
    batch = np.zeros((2, 3, 2), np.float32)
    ring.copy_to(batch[1])
    assert batch[1][:, 0].tolist() == [2, 3, 4] and not batch[0].any()
    ring.reset()
    assert len(ring) == 0 and not ring.full
    ring.push(np.full(2, 9, np.float32))
    assert ring.view()[:, 0].tolist() == [9]


@pytest.mark.parametrize("window,dim", [(0, 3), (3, 0), (-1, 2)])
def test_rejects_empty_shapes(window, dim):
    with pytest.raises(ValueError):
        RingBuffer(window, dim)
