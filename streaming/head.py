"""The recurrent head session: windows of features in, class probabilities out."""

from __future__ import annotations

from streaming.bundle import Bundle
from streaming.errors import BundleError
from streaming.onnx_model import OnnxModel


class Head(OnnxModel):
    """The bundle's head; called on B×window×D feature windows it gives B×classes probabilities."""

    def __init__(self, bundle: Bundle, int8: bool = False, device: str = "auto", threads: int = 0):
        if not bundle.manifest.has_head:
            raise BundleError(
                f"{bundle.root}: bundle has no head.onnx (extractor only); train one with "
                "`python -m training run` or use models/demo"
            )
        self.labels = list(bundle.manifest.labels)
        self.window = bundle.manifest.sampling.window
        if int8 and "head_int8" not in bundle.manifest.files:
            raise BundleError(
                f"{bundle.root}: bundle has no int8 head; run `python -m export quantize {bundle.root} --head` first"
            )
        self.role = "head_int8" if int8 else "head"
        super().__init__(bundle.path(self.role), len(self.labels), device=device, threads=threads)
