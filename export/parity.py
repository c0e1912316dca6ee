"""Numbers, not just "it runs": Keras vs ONNX Runtime on the same seeded inputs, and the bundle's probe.

A probe is a recipe for a seeded input plus the outputs the exported file gave for it, stored in the manifest,
so `python -m export verify` can regenerate the very same input on any machine and compare.

    result = parity(keras_model, "extractor.onnx", seeded_input(probe_recipe(0, (4, 112, 112, 3), "uniform")))
    check_parity(result, "extractor.onnx")      # ActionstreamError if max_abs_diff > PARITY_TOLERANCE
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from streaming.errors import ActionstreamError

if TYPE_CHECKING:
    import keras

#: fp32 Keras vs ONNX Runtime (and a probe re-run vs export time) must agree to this max absolute difference.
PARITY_TOLERANCE = 1e-4
#: int8 vs fp32 features must keep at least this cosine similarity.
INT8_MIN_COSINE = 0.99
#: Significant digits kept for probe outputs in JSON: 9 round-trips any float32 exactly.
PROBE_DIGITS = 9
DISTRIBUTIONS = ("uniform", "normal")
_BATCH = 8


def probe_recipe(
    seed: int, shape: tuple[int, ...], distribution: str = "uniform", low: float = -1.0, high: float = 1.0
) -> dict[str, Any]:
    """How to regenerate a seeded float32 input; `uniform` in [low, high) (frames), `normal` N(0,1) (features)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    recipe: dict[str, Any] = {
        "seed": int(seed),
        "shape": [int(s) for s in shape],
        "distribution": distribution,
        "dtype": "float32",
    }
    if distribution == "uniform":
        recipe.update(low=float(low), high=float(high))
    return recipe


def seeded_input(recipe: dict[str, Any]) -> np.ndarray:
    """The input a recipe describes, generated with np.random.default_rng(seed)."""
    rng = np.random.default_rng(int(recipe["seed"]))
    shape = tuple(int(s) for s in recipe["shape"])
    if recipe["distribution"] == "uniform":
        x = rng.uniform(float(recipe["low"]), float(recipe["high"]), size=shape)
    elif recipe["distribution"] == "normal":
        x = rng.standard_normal(size=shape)
    else:
        raise ActionstreamError(f"probe: unknown distribution {recipe['distribution']!r}")
    return np.ascontiguousarray(x, dtype=np.float32)


def input_digest(x: np.ndarray) -> str:
    """sha256 of the input bytes: tells a changed random stream apart from a changed model."""
    return hashlib.sha256(np.ascontiguousarray(x, np.float32).tobytes()).hexdigest()


def make_probe(recipe: dict[str, Any], outputs: np.ndarray) -> dict[str, Any]:
    """The manifest's probe entry: recipe, input digest and the outputs (9 significant digits)."""
    x = seeded_input(recipe)
    rounded = [
        [float(f"{v:.{PROBE_DIGITS}g}") for v in row] for row in np.asarray(outputs, np.float32).reshape(len(x), -1)
    ]
    return {**recipe, "input_sha256": input_digest(x), "outputs": rounded}


def keras_outputs(model: "keras.Model", inputs: np.ndarray) -> np.ndarray:
    """Inference-mode outputs on the CPU, in small batches so a big backbone stays within memory.

    On the CPU because TensorFlow computes fp32 convolutions in TF32 on recent GPUs, which alone differs from
    exact fp32 by more than the parity tolerance.
    """
    import tensorflow as tf

    with tf.device("/CPU:0"):
        parts = [
            np.asarray(model(inputs[i : i + _BATCH], training=False), np.float32) for i in range(0, len(inputs), _BATCH)
        ]
    return np.concatenate(parts)


def onnx_outputs(onnx_path: str | os.PathLike, inputs: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Outputs of an ONNX file under ONNX Runtime with the runtime's own session settings."""
    from streaming.providers import create_session

    sess = create_session(onnx_path, device=device)
    name_in, name_out = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    parts = [sess.run([name_out], {name_in: inputs[i : i + _BATCH]})[0] for i in range(0, len(inputs), _BATCH)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def compare(expected: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    """max/mean abs difference, top-1 agreement (meaningful for heads) and the min/mean cosine per row."""
    expected = np.asarray(expected, np.float64).reshape(len(expected), -1)
    got = np.asarray(got, np.float64).reshape(len(got), -1)
    if expected.shape != got.shape:
        raise ActionstreamError(f"output shapes differ: expected {expected.shape}, got {got.shape}")
    diff = np.abs(expected - got)
    cos = cosine_rows(expected, got)
    return {
        "max_abs_diff": float(diff.max(initial=0.0)),
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "top1_agreement": float(np.mean(expected.argmax(1) == got.argmax(1))) if expected.size else 1.0,
        "cosine_min": float(cos.min(initial=1.0)),
        "cosine_mean": float(cos.mean()) if cos.size else 1.0,
        "n": int(len(expected)),
    }


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of a with the same row of b (1.0 where both rows are zero)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    both_zero = (na == 0) & (nb == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(both_zero, 1.0, dot / np.maximum(na * nb, 1e-30))
    return cos


def parity(keras_model: "keras.Model", onnx_path: str | os.PathLike, inputs: np.ndarray) -> dict[str, Any]:
    """Keras vs ONNX Runtime (CPU) on the same inputs: see compare() for the keys."""
    inputs = np.ascontiguousarray(inputs, np.float32)
    result = compare(keras_outputs(keras_model, inputs), onnx_outputs(onnx_path, inputs, device="cpu"))
    result["tolerance"] = PARITY_TOLERANCE
    return result


def check_parity(result: dict[str, Any], what: str, tolerance: float = PARITY_TOLERANCE) -> None:
    """Refuse an export whose ONNX file disagrees with Keras by more than `tolerance`."""
    if not result["max_abs_diff"] <= tolerance:
        raise ActionstreamError(
            f"{what}: ONNX output differs from Keras by {result['max_abs_diff']:.3g} "
            f"(max abs; tolerance {tolerance:g}); the export is wrong, nothing was written"
        )
