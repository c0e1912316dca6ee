"""A clip's features, computed exactly as the live engine computes them: decode, sample by time, batch through
the same FrameBatch into the same extractor (cnn or pose). The replay evaluation calls this; training's dataset
extraction runs the same loop over many clips at once.

    clip = extract_clip("v_Biking_g01_c01.avi", open_extractor(load_bundle("models/demo")), Sampling())
    clip.feats  # N×D float32, one row per frame due at the feature rate; clip.times their times (s)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from streaming.extractor import AnyExtractor, FrameBatch
from streaming.sampler import RateSampler, Sampling, segment_indices
from streaming.video import FrameReader


@dataclass
class ClipFeatures:
    """One clip's features: a row per sampled frame, with the frame's time in seconds."""

    path: str
    times: np.ndarray  # N float64, seconds from the clip's start
    feats: np.ndarray  # N×D float32
    frames_read: int  # frames the decoder delivered (not the container's claim)
    end_reason: str  # FrameReader.end_reason: "end of file" or "cut short: ..."

    @property
    def truncated(self) -> bool:
        return self.end_reason.startswith("cut short")


def extract_clip(
    path: str | os.PathLike,
    extractor: AnyExtractor,
    spec: Sampling,
    rng: np.random.Generator | None = None,
    batch_size: int = 32,
) -> ClipFeatures:
    """Features of one clip's frames due at spec.feature_rate, decoded and batched in this thread.

    cnn: only sampled frames are held, preprocessed, in one preallocated batch of `batch_size`. pose: the clip is
    one stream with its own tracking state (a fresh `new_state()`), so its frames go one per call, in order, as
    in the live engine. With `rng` in segments mode the result is one random draw (`window` rows) instead of all
    candidates. Raises SourceError if no frame decodes.
    """
    batch = FrameBatch(extractor, batch_size)
    state = extractor.new_state()
    times: list[float] = []
    chunks: list[np.ndarray] = []
    sampler = RateSampler(spec.feature_rate)
    reader = FrameReader(path)
    with contextlib.closing(iter(reader)) as frames:
        for t, frame in frames:
            if not sampler.take(t):
                continue
            if not batch.room_for(state):
                chunks.append(batch.run()[1].features)
            batch.add(frame, state)
            times.append(t)
    chunks.append(batch.run()[1].features)
    feats = np.concatenate(chunks).astype(np.float32, copy=False)
    t_arr = np.asarray(times, np.float64)
    if rng is not None and spec.mode == "segments":
        rows = segment_indices(len(feats), spec.window, rng)
        feats, t_arr = feats[rows], t_arr[rows]
    return ClipFeatures(
        path=str(path), times=t_arr, feats=feats, frames_read=reader.frames_read, end_reason=reader.end_reason
    )
