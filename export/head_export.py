"""Export a trained recurrent head into an existing bundle: head.onnx + labels, window, sampling in the manifest.

    bundle = export_head(head, Path("B"), labels=["Biking", "Punch"], sampling=Sampling("stride", 10.0, 40))
    bundle = export_head_file(Path("runs/x/head.keras"), Path("B"))      # CLI: labels from head.meta.json

A head trained on a GPU uses Keras' cuDNN LSTM kernel, which TensorFlow traces as CudnnRNNV3 and tf2onnx
cannot convert; so the head is always rebuilt with use_cudnn=False (same weights) before conversion, and the
ONNX graph must then hold one LSTM/GRU/RNN op, not a Loop or Scan.

Labels for the CLI: a .keras file has no place for them, so they travel in a small JSON file beside it,
MODEL.meta.json = {"labels": [...], "window": 40, "sampling": {"mode": "stride", "fps": 10.0}}
(write_head_meta writes it; training does), or come from `--labels FILE` (one label per line), which wins.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from export.convert import keras_to_onnx, op_types, tool_versions, utc_now
from export.parity import check_parity, make_probe, onnx_outputs, parity, probe_recipe, seeded_input
from streaming.atomic import atomic_write_text
from streaming.bundle import (
    FILE_NAMES,
    Bundle,
    Manifest,
    OnnxFile,
    bundle_writer,
    load_bundle,
    read_json_object,
    sampling_from_manifest,
    sampling_to_manifest,
    sha256_file,
    write_manifest,
)
from streaming.errors import ActionstreamError, BundleError
from streaming.sampler import Sampling

if TYPE_CHECKING:
    import keras

HEAD_INPUT, HEAD_OUTPUT = "windows", "probs"
PARITY_SEED, PARITY_WINDOWS = 2, 32
PROBE_SEED, PROBE_WINDOWS = 3, 2
RECURRENT_OPS = {"LSTM", "GRU", "RNN"}
LOOP_OPS = {"Loop", "Scan"}
META_SUFFIX = ".meta.json"


def export_head(
    head: "keras.Model",
    bundle_dir: str | Path,
    labels: list[str],
    sampling: Sampling,
    description: str | None = None,
    provenance: dict | None = None,
    *,
    source: str | None = None,
) -> Bundle:
    """Convert `head` ((B, sampling.window, D) features -> (B, classes) softmax) into head.onnx of the bundle.

    Refuses (ActionstreamError, nothing written) when D differs from the bundle's feature size, the label count
    from the head's classes, the ONNX graph has a loop instead of an RNN op, or parity is worse than 1e-4.
    `source` names the head in messages (e.g. its .keras path; default the model's name).
    """
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    labels = _check_labels(labels)
    if not isinstance(sampling, Sampling):
        raise ActionstreamError(f"sampling must be a Sampling, got {type(sampling).__name__}")
    window = sampling.window
    _check_head_shapes(head, source or head.name, m.feature_size, len(labels), window, bundle_dir)
    recurrent = _recurrent_layer_names(head)
    rebuilt = without_cudnn(head)
    started = time.perf_counter()
    metadata = {
        "actionstream.role": "head",
        "actionstream.labels": json.dumps(labels),
        "actionstream.window": str(window),
        "actionstream.feature_size": str(m.feature_size),
        "actionstream.sampling": json.dumps(sampling_to_manifest(sampling)),
    }
    with bundle_writer(bundle_dir, start_from_existing=True) as tmp:
        onnx_path = tmp / FILE_NAMES["head"]
        output_name = keras_to_onnx(
            rebuilt, onnx_path, (window, m.feature_size), HEAD_INPUT, metadata=metadata, output_name=HEAD_OUTPUT
        )
        ops = op_types(onnx_path)
        where = bundle_dir / FILE_NAMES["head"]
        if ops & LOOP_OPS:
            raise ActionstreamError(
                f"{where}: the recurrent layer exported as an ONNX {'/'.join(sorted(ops & LOOP_OPS))} "
                "loop, not one LSTM op (tf2onnx 1.17 converts Keras LSTM, not GRU/SimpleRNN, to a "
                "single op); use an LSTM head, or build the GRU/SimpleRNN with unroll=True over the fixed window "
                "(as training's heads are); nothing was written"
            )
        rolled = _recurrent_layer_names(head, rolled_only=True)  # unroll=True layers become plain MatMuls
        if rolled and not ops & RECURRENT_OPS:
            raise ActionstreamError(
                f"{where}: head has recurrent layers {rolled} but the ONNX graph holds no "
                "LSTM/GRU/RNN op; nothing was written"
            )
        x = seeded_input(probe_recipe(PARITY_SEED, (PARITY_WINDOWS, window, m.feature_size), "normal"))
        result = parity(rebuilt, onnx_path, x)
        check_parity(result, str(where))
        _check_softmax(onnx_outputs(onnx_path, x[:4]), where)
        recipe = probe_recipe(PROBE_SEED, (PROBE_WINDOWS, window, m.feature_size), "normal")
        probe = make_probe(recipe, onnx_outputs(onnx_path, seeded_input(recipe)))
        _drop_role(tmp, m, "head_int8")  # quantized from an older head: stale now
        m.files["head"] = OnnxFile(FILE_NAMES["head"], sha256_file(onnx_path), HEAD_INPUT, output_name)
        m.labels, m.sampling = labels, sampling
        m.parity["head"] = {**result, "onnx_ops": sorted(ops & RECURRENT_OPS)}
        m.probe["head"] = probe
        m.provenance["head"] = {
            **(provenance or {}),
            "keras_name": head.name,
            "recurrent_layers": recurrent,
            "rebuilt_without_cudnn": True,
            "versions": tool_versions(),
            "created": utc_now(),
            "export_seconds": round(time.perf_counter() - started, 2),
        }
        if description is not None:
            m.description = description
        write_manifest(tmp, m)
    return load_bundle(bundle_dir)


def export_head_file(
    keras_path: str | Path,
    bundle_dir: str | Path,
    labels: list[str] | str | Path | None = None,
    mode: str | None = None,
    feature_rate: float | None = None,
    window: int | None = None,
    description: str | None = None,
) -> Bundle:
    """The CLI's `head` command: load MODEL.keras and export it into the bundle.

    labels: a list, or a labels file (one per line, or a JSON list); else MODEL.meta.json's labels.
    mode, feature_rate, window: each as given, else MODEL.meta.json's, else the head's window length and the
    default stride sampling.
    """
    keras_path = Path(keras_path)
    if not keras_path.is_file():
        raise ActionstreamError(f"{keras_path}: no such Keras model file")
    load_bundle(bundle_dir)  # fail on a bad bundle before loading TensorFlow
    meta = read_head_meta(keras_path)
    if labels is None:
        if "labels" not in meta:
            raise ActionstreamError(
                f"{keras_path}: no labels; pass --labels FILE (one label per line) or put "
                f"{_meta_path(keras_path).name} beside the model"
            )
        labels = meta["labels"]
    elif isinstance(labels, (str, os.PathLike)):
        labels = read_labels_file(Path(labels))
    try:
        from_meta = sampling_from_manifest({k: meta[k] for k in ("sampling", "window") if k in meta})
    except (TypeError, ValueError) as exc:
        raise ActionstreamError(f"{_meta_path(keras_path)}: bad sampling ({exc})") from exc
    head = _load_keras(keras_path)
    if window is None:
        window = meta.get("window") or head.input_shape[1] or from_meta.window
    try:
        sampling = Sampling(mode or from_meta.mode, feature_rate or from_meta.feature_rate, window)
    except ValueError as exc:
        raise ActionstreamError(f"bad sampling: {exc}") from exc
    provenance = {
        "keras_file": str(keras_path.resolve()),
        "keras_sha256": sha256_file(keras_path),
        "sampling_source": "meta.json" if "sampling" in meta else "default",
    }
    return export_head(head, bundle_dir, list(labels), sampling, description, provenance, source=str(keras_path))


def without_cudnn(model: "keras.Model") -> "keras.Model":
    """The same model with every recurrent layer set to use_cudnn=False, weights copied."""
    import keras

    def clone(layer):
        config = _no_cudnn(layer.get_config())
        return layer.__class__.from_config(config)

    try:
        rebuilt = keras.models.clone_model(model, clone_function=clone)
    except (ValueError, TypeError, NotImplementedError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionstreamError(
            f"{model.name}: cannot rebuild the head for export (use a Sequential or "
            f"functional Keras model): {first[:160]}"
        ) from exc
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _no_cudnn(config: Any) -> Any:
    if isinstance(config, dict):
        return {k: (False if k == "use_cudnn" else _no_cudnn(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [_no_cudnn(v) for v in config]
    return config


def _recurrent_layer_names(model: "keras.Model", rolled_only: bool = False) -> list[str]:
    """Names of the recurrent layers; with `rolled_only`, only those not unrolled over a fixed window (a
    GRU/SimpleRNN head is unrolled so tf2onnx emits plain ops instead of a Loop)."""
    import keras

    found = []
    for layer in model.layers:
        inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)  # Bidirectional, wrappers
        rnn = layer if isinstance(layer, keras.layers.RNN) else inner if isinstance(inner, keras.layers.RNN) else None
        if rnn is not None and not (rolled_only and getattr(rnn, "unroll", False)):
            found.append(layer.name)
    return found


def _check_head_shapes(
    head: "keras.Model", name: str, feature_size: int, n_labels: int, window: int, bundle_dir: Path
) -> None:
    if len(head.inputs) != 1 or len(head.outputs) != 1:
        raise ActionstreamError(f"{name}: a head takes one input and gives one output")
    shape_in, shape_out = tuple(head.input_shape), tuple(head.output_shape)
    if len(shape_in) != 3:
        raise ActionstreamError(f"{name}: input must be (batch, window, features), got {shape_in}")
    if shape_in[2] != feature_size:
        raise BundleError(
            f"{name}: head expects {shape_in[2]}-d features but the extractor of {bundle_dir} "
            f"gives {feature_size}-d; train the head on this extractor's features"
        )
    if shape_in[1] is not None and shape_in[1] != window:
        raise ActionstreamError(f"{name}: head takes windows of {shape_in[1]} steps, not {window}")
    if len(shape_out) != 2:
        raise ActionstreamError(f"{name}: output must be (batch, classes), got {shape_out}")
    if shape_out[1] != n_labels:
        raise BundleError(f"{name}: head outputs {shape_out[1]} classes but {n_labels} labels were given")


def _check_softmax(probs: np.ndarray, where: Path) -> None:
    sums = probs.sum(axis=1)
    if probs.min() < -1e-6 or np.abs(sums - 1).max() > 1e-3:
        raise ActionstreamError(
            f"{where}: head outputs are not probabilities (row sums {sums.min():.3g}.."
            f"{sums.max():.3g}); end the head with a softmax"
        )


def _check_labels(labels: list[str]) -> list[str]:
    labels = [str(x) for x in labels]
    if not labels:
        raise ActionstreamError("no labels given")
    bad = [x for x in labels if not x.strip() or "\n" in x]
    if bad:
        raise ActionstreamError(f"empty or multi-line label {bad[0]!r}")
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ActionstreamError(f"duplicate labels: {', '.join(dupes)}")
    return labels


def _drop_role(tmp: Path, m: Manifest, role: str) -> None:
    if role in m.files:
        (tmp / m.files[role].path).unlink(missing_ok=True)
        del m.files[role]
        m.parity.pop(role, None)
        m.probe.pop(role, None)


def _load_keras(path: Path) -> "keras.Model":
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionstreamError(f"{path}: not a loadable Keras model ({first[:200]})") from exc


def _meta_path(keras_path: Path) -> Path:
    return keras_path.with_name(keras_path.name.removesuffix(".keras").removesuffix(".h5") + META_SUFFIX)


def read_head_meta(keras_path: str | Path) -> dict[str, Any]:
    """MODEL.meta.json beside MODEL.keras, or {} when there is none."""
    path = _meta_path(Path(keras_path))
    if not path.is_file():
        return {}
    return read_json_object(path, ActionstreamError, "expected a JSON object with labels, window, sampling")


def write_head_meta(keras_path: str | Path, labels: list[str], sampling: Sampling) -> Path:
    """Write MODEL.meta.json beside MODEL.keras (atomic), so `python -m export head` needs no extra flags."""
    path = _meta_path(Path(keras_path))
    meta = {"labels": _check_labels(labels), "window": sampling.window, "sampling": sampling_to_manifest(sampling)}
    atomic_write_text(path, json.dumps(meta, indent=2) + "\n")
    return path


def read_labels_file(path: Path) -> list[str]:
    """Labels, one per line (blank lines ignored), or a JSON list when the file ends in .json."""
    if not path.is_file():
        raise ActionstreamError(f"{path}: labels file not found")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            labels = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ActionstreamError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(labels, list):
            raise ActionstreamError(f"{path}: expected a JSON list of labels")
        return _check_labels(labels)
    return _check_labels([line.strip() for line in text.splitlines() if line.strip()])
