"""Choosing an ONNX Runtime execution provider that really works.

onnxruntime-gpu lists CUDA (and TensorRT) as available even where no CUDA libraries exist, then prints
multi-line errors and silently runs on CPU when asked for them. So we probe once whether the CUDA provider
library can actually load, decide, say it once, and check what each session really got.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from streaming.errors import ProviderError

log = logging.getLogger("actionstream")

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ProviderChoice:
    """The providers to ask ONNX Runtime for, and why."""

    providers: tuple[str, ...]
    reason: str

    @property
    def uses_cuda(self) -> bool:
        return "CUDAExecutionProvider" in self.providers


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """None when ONNX Runtime's CUDA provider can load here, else why not (one line). Probed once."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    capi = Path(ort.__file__).parent / "capi"
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1 not found)"
    if hasattr(ort, "preload_dlls"):  # loads CUDA/cuDNN from the nvidia-* pip wheels when present
        try:
            ort.preload_dlls(directory="")
        except Exception:  # noqa: BLE001 - best effort; the CDLL check below decides
            pass
    try:
        ctypes.CDLL(str(capi / "libonnxruntime_providers_shared.so"), mode=ctypes.RTLD_GLOBAL)
        ctypes.CDLL(str(capi / "libonnxruntime_providers_cuda.so"))
    except OSError as exc:
        missing = str(exc).split(":")[0]
        return f"CUDA libraries missing ({missing}); install onnxruntime-gpu[cuda,cudnn]"
    return None


def choose_providers(device: str = "auto") -> ProviderChoice:
    """Map --device auto|cpu|cuda to providers; `cuda` fails clearly where CUDA cannot load."""
    if device not in DEVICES:
        raise ProviderError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return ProviderChoice(("CPUExecutionProvider",), "CPU requested")
    reason = cuda_unavailable_reason()
    if reason is None:
        return ProviderChoice(("CUDAExecutionProvider", "CPUExecutionProvider"), "CUDA available")
    if device == "cuda":
        raise ProviderError(f"--device cuda: {reason}")
    return ProviderChoice(("CPUExecutionProvider",), f"CPU (CUDA not usable: {reason})")


@functools.cache
def _announce(text: str) -> None:
    log.warning(text)


def session_options(threads: int = 0, spinning: bool = False) -> ort.SessionOptions:
    """Options that matter on small CPUs: full graph optimisation, and no busy-spinning threads.

    Two sessions in one process halve throughput on 2 cores when their idle threads spin.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return so


def create_session(path: str | os.PathLike, device: str = "auto", threads: int = 0) -> ort.InferenceSession:
    """An InferenceSession on the best usable provider; says once when it falls back to CPU."""
    choice = choose_providers(device)
    if device == "auto" and not choice.uses_cuda:
        _announce(f"actionstream: running on {choice.reason}")
    try:
        sess = ort.InferenceSession(str(path), sess_options=session_options(threads), providers=list(choice.providers))
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types for a corrupt file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        from streaming.errors import BundleError

        raise BundleError(f"{path}: not a loadable ONNX model ({first[:200]})") from exc
    if choice.uses_cuda and "CUDAExecutionProvider" not in sess.get_providers():
        if device == "cuda":
            raise ProviderError(f"{path}: CUDA provider failed to initialise; got {sess.get_providers()}")
        _announce(f"actionstream: CUDA provider failed to initialise for {Path(path).name}; running on CPU")
    return sess
