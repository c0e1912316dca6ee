"""The per-frame feature extractor of a bundle, of either kind, and the one batching loop that feeds it.

One extractor serves every stream of the engine and the training extraction alike, so training features and
live features come from the same ONNX files through the same preprocessing. Both kinds have one interface:

    extractor = open_extractor(load_bundle("models/demo"))     # cnn: Extractor; pose: BundlePoseExtractor
    states = [extractor.new_state() for _ in streams]            # None for cnn; a PoseTrack per stream for pose
    result = extractor.extract([frame_a, frame_b], states)       # result.features N×D, result.persons N×(Person|None)

`FrameBatch` is the batching loop the engine, `extract_clip` and dataset extraction share: frames go into
preallocated slots (cnn frames are preprocessed straight into them) and one `run()` extracts them all.
"""

from __future__ import annotations

import logging

import numpy as np

from streaming.bundle import Bundle
from streaming.errors import BundleError
from streaming.onnx_model import OnnxModel
from streaming.person import ExtractResult
from streaming.pose_extractor import PoseExtractor, PoseTrack
from streaming.pose_spec import PoseSpec
from streaming.preprocess import FrameSpec, preprocess_batch, preprocess_frame

log = logging.getLogger("actionstream")

#: What `new_state()` gives: nothing for a stateless extractor, tracking state for the pose pipeline.
ExtractorState = PoseTrack | None


class Extractor(OnnxModel):
    """The bundle's CNN extractor (fp32, or int8 when asked); called on a preprocessed N×h×w×3 batch it gives N×D."""

    kind = "cnn"
    finds_people = False

    def __init__(self, bundle: Bundle, int8: bool = False, device: str = "auto", threads: int = 0):
        self.role = bundle.extractor_role(int8)
        self.spec: FrameSpec = bundle.manifest.frame
        self.feature_size = bundle.manifest.feature_size
        super().__init__(bundle.path(self.role), self.feature_size, device=device, threads=threads)

    def new_state(self) -> None:
        """A CNN looks at each frame alone: no per-stream state."""
        return None

    def extract(self, frames_bgr: list[np.ndarray], states: list[None] | None = None) -> ExtractResult:
        """Features of decoded BGR frames in one call; nobody is looked for (persons all None)."""
        feats = self.extract_frames(frames_bgr)
        return ExtractResult(feats, [None] * len(feats))

    def extract_frames(self, frames_bgr: list[np.ndarray]) -> np.ndarray:
        """Features for decoded BGR frames, preprocessed by the one shared function, in one call."""
        return self(preprocess_batch(frames_bgr, self.spec))


class BundlePoseExtractor(PoseExtractor):
    """A bundle's pose pipeline (detector + landmark model, settings from the manifest's `pose`)."""

    kind = "pose"
    finds_people = True

    def __init__(self, bundle: Bundle, device: str = "auto", threads: int = 0):
        super().__init__(
            bundle.path("pose_detector"),
            bundle.path("pose_landmarks"),
            PoseSpec.from_dict(bundle.manifest.pose),
            device=device,
            threads=threads,
        )
        if self.feature_size != bundle.manifest.feature_size:
            raise BundleError(
                f"{bundle.root}: pose settings give {self.feature_size}-d features but the manifest says "
                f"feature_size {bundle.manifest.feature_size}; re-export the bundle"
            )


#: Either kind; both have new_state(), extract(frames, states), feature_size, provider, finds_people, kind.
AnyExtractor = Extractor | BundlePoseExtractor


def open_extractor(bundle: Bundle, int8: bool = False, device: str = "auto", threads: int = 0) -> AnyExtractor:
    """The extractor the bundle's `extractor_kind` names. int8 exists only for cnn extractors: asking for it with
    a pose bundle is an error (said in one line), not silently ignored."""
    kind = bundle.manifest.extractor_kind
    if kind == "pose":
        if int8:
            raise BundleError(
                f"{bundle.root}: a pose bundle has no int8 extractor (int8 is for cnn extractors); run without --int8"
            )
        return BundlePoseExtractor(bundle, device=device, threads=threads)
    if kind == "cnn":
        return Extractor(bundle, int8=int8, device=device, threads=threads)
    raise BundleError(f"{bundle.root}: unknown extractor_kind {kind!r}; update actionstream or re-export the bundle")


class FrameBatch:
    """Frames for one extractor call, each with its stream's state and a caller's tag; `run()` extracts them.

    cnn: a frame is preprocessed straight into a preallocated float32 slot as it is added (or copied in once
    when a decoder thread preprocessed it already: `add_prepared`), so a full batch costs no further copy.
    pose: frames and states are held as they are (the pipeline crops each frame itself). A stream with state
    gives at most one frame per call, since its next frame's crop comes from this frame's landmarks: ask
    `room_for(state)` before adding.

        batch = FrameBatch(extractor, size=32)
        for tag, frame, state in work:
            if not batch.room_for(state):
                use(*batch.run())
            batch.add(frame, state, tag)
        use(*batch.run())
    """

    def __init__(self, extractor: AnyExtractor, size: int):
        if size < 1:
            raise ValueError(f"batch size must be >= 1, got {size}")
        self.extractor = extractor
        self.size = size
        self.tags: list = []
        self._states: list[ExtractorState] = []
        self._frames: list[np.ndarray] = []
        self._slots: np.ndarray | None = None
        if isinstance(extractor, Extractor):
            spec = extractor.spec
            self._slots = np.empty((size, spec.height, spec.width, 3), np.float32)

    def __len__(self) -> int:
        return len(self.tags)

    @property
    def full(self) -> bool:
        return len(self.tags) >= self.size

    def room_for(self, state: ExtractorState = None) -> bool:
        """Whether a frame with this state can join this call."""
        if self.full:
            return False
        return state is None or not any(s is state for s in self._states)

    def add(self, frame_bgr: np.ndarray, state: ExtractorState = None, tag: object = None) -> None:
        """Add a decoded BGR frame (the caller checked `room_for`)."""
        if self._slots is not None:
            preprocess_frame(frame_bgr, self.extractor.spec, out=self._slots[len(self.tags)])
        else:
            self._frames.append(frame_bgr)
        self._states.append(state)
        self.tags.append(tag)

    def add_prepared(self, x: np.ndarray, tag: object = None) -> None:
        """Add a cnn frame already preprocessed (h×w×3 float32, by `preprocess_frame`)."""
        if self._slots is None:
            raise TypeError("only a cnn extractor takes preprocessed frames")
        self._slots[len(self.tags)] = x
        self._states.append(None)
        self.tags.append(tag)

    def run(self) -> tuple[list, ExtractResult]:
        """Extract the held frames in one call (none: no call); returns their tags and the result, and empties
        the batch. Updates the states (pose tracking)."""
        tags, n = self.tags, len(self.tags)
        if self._slots is not None:
            feats = self.extractor(self._slots[:n]) if n else np.empty((0, self.extractor.feature_size), np.float32)
            result = ExtractResult(feats, [None] * n)
        elif n:
            result = self.extractor.extract(self._frames, self._states)
        else:
            result = ExtractResult(np.empty((0, self.extractor.feature_size), np.float32), [])
        self.tags, self._states, self._frames = [], [], []
        return tags, result

    def claim_memory(self) -> None:
        """cnn: one call at full size (twice: ONNX Runtime plans a shape's memory on its first run and allocates it
        on the next), so memory stays flat afterwards and the first real call is not a cold one. pose: nothing;
        its crops have fixed sizes and its batches are as many as the streams."""
        if self._slots is None:
            return
        self._slots.fill(0.0)
        for _ in range(2):
            self.extractor(self._slots)
