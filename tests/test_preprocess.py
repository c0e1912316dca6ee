"""The one frame preprocessing: both scalings a manifest may name, and odd input frames."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.preprocess import FrameSpec, preprocess_frame


@pytest.mark.parametrize(("name", "black", "white"), [("inception", -1.0, 1.0), ("unit", 0.0, 1.0)])
def test_scalings_map_black_and_white_to_their_range(name, black, white):
    spec = FrameSpec(8, 8, "RGB", name)
    assert np.allclose(preprocess_frame(np.zeros((16, 16, 3), np.uint8), spec), black)
    assert np.allclose(preprocess_frame(np.full((16, 16, 3), 255, np.uint8), spec), white)


def test_rgb_order_and_grey_frames():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 0] = 255  # blue in OpenCV's BGR
    out = preprocess_frame(frame, FrameSpec(8, 8, "RGB", "unit"))
    assert np.allclose(out[..., 2], 1.0) and np.allclose(out[..., 0], 0.0)
    grey = preprocess_frame(np.full((8, 8), 255, np.uint8), FrameSpec(4, 4, "RGB", "unit"))
    assert grey.shape == (4, 4, 3) and np.allclose(grey, 1.0)


def test_unknown_preprocessing_is_refused():
    with pytest.raises(ValueError, match="unknown preprocessing"):
        FrameSpec(8, 8, "RGB", "imagenet-caffe")
