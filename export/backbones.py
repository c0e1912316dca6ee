"""Per-frame feature extractors (Keras): InceptionV3 and a small CNN.

A backbone takes the *preprocessed* frame (float32 NHWC in [-1, 1], see streaming/preprocess.py) and returns
one feature vector per frame. No preprocessing layers live inside the model: the live engine and training
share streaming.preprocess, so the network must not scale frames a second time.

    model = build_backbone("smallcnn", weights="none")        # 112x112 -> 256-d, random weights
    model = build_backbone("inceptionv3", weights="imagenet")  # 299x299 -> 2048-d, Keras' own download+cache
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from streaming.errors import ActionstreamError

if TYPE_CHECKING:  # keras is imported lazily: importing it pulls in TensorFlow
    import keras

BACKBONES = ("inceptionv3", "smallcnn")
_DEFAULT_INPUT_SIZE = {"inceptionv3": 299, "smallcnn": 112}
#: InceptionV3's strided stem needs at least 75x75 (Keras enforces it).
_MIN_INPUT_SIZE = {"inceptionv3": 75, "smallcnn": 16}
#: Filters of the small CNN's four conv + max-pool blocks; the last one is the feature size.
SMALLCNN_FILTERS = (32, 64, 128, 256)
WEIGHT_SUFFIXES = (".h5", ".keras")


def default_input_size(arch: str) -> int:
    """The square frame size a backbone is normally run at (InceptionV3 299, small CNN 112)."""
    _check_arch(arch)
    return _DEFAULT_INPUT_SIZE[arch]


def build_backbone(arch: str, weights: str = "none", input_size: int | None = None) -> "keras.Model":
    """A Keras model from preprocessed frames (B, s, s, 3) to features (B, D).

    weights: "none" (random; for tests and plumbing), "imagenet" (InceptionV3 only; Keras downloads and caches
    it), or a path to a local .h5/.keras file of the same architecture (else ActionstreamError).
    """
    _check_arch(arch)
    size = default_input_size(arch) if input_size is None else int(input_size)
    if size < _MIN_INPUT_SIZE[arch]:
        raise ActionstreamError(f"--input-size {size} is too small for {arch} (minimum {_MIN_INPUT_SIZE[arch]})")
    weights_path = check_weights(weights, arch)
    if arch == "inceptionv3":
        model = _inceptionv3(size, imagenet=(weights == "imagenet"))
    else:
        model = _smallcnn(size)
    if weights_path is not None:
        load_weights_checked(model, weights_path, arch)
    return model


def feature_size(model: "keras.Model") -> int:
    return int(model.outputs[0].shape[-1])


def _check_arch(arch: str) -> None:
    if arch not in BACKBONES:
        raise ActionstreamError(f"unknown backbone {arch!r}; choose one of {', '.join(BACKBONES)}")


def check_weights(weights: str, arch: str) -> Path | None:
    """The weights file to load (None for imagenet/none); refuses a bad value before TensorFlow is imported."""
    _check_arch(arch)
    if weights == "none":
        return None
    if weights == "imagenet":
        if arch != "inceptionv3":
            raise ActionstreamError(f"--weights imagenet exists only for inceptionv3, not {arch}; use none or a PATH")
        return None
    path = Path(weights)
    if not path.exists():
        raise ActionstreamError(
            f"{path}: weights file not found (use --weights imagenet, none, or an existing .h5/.keras file)"
        )
    if not path.is_file() or not path.name.endswith(WEIGHT_SUFFIXES):
        raise ActionstreamError(f"{path}: not a weights file; expected a .h5, .weights.h5 or .keras file")
    return path


def _inceptionv3(size: int, imagenet: bool) -> "keras.Model":
    import keras

    try:
        return keras.applications.InceptionV3(
            include_top=False, pooling="avg", weights="imagenet" if imagenet else None, input_shape=(size, size, 3)
        )
    except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception for a failed download
        if not imagenet:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionstreamError(
            f"could not get the ImageNet weights for InceptionV3 ({first[:160]}); download "
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 and pass --weights PATH"
        ) from exc


def _smallcnn(size: int) -> "keras.Model":
    """Four conv + max-pool blocks (as in the original report), then global average pooling to a vector."""
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 3), name="frames")
    x = inputs
    for i, filters in enumerate(SMALLCNN_FILTERS, start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    outputs = layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, outputs, name="smallcnn")


def load_weights_checked(model: "keras.Model", path: Path, arch: str) -> None:
    """Load a weights file into `model`, refusing (one line) a file made for another architecture.

    Keras silently loads a file holding *more* layers than the model (it takes the first ones), so the
    stored arrays' shapes are compared with the model's variables before Keras loads anything.
    """
    expected = sorted(tuple(w.shape) for w in model.weights)
    stored = sorted(_stored_shapes(path))
    where = f"{arch} at {model.input_shape[1]}x{model.input_shape[2]}"
    if stored != expected:
        raise ActionstreamError(
            f"{path}: weights of another architecture ({len(stored)} arrays stored, "
            f"{where} has {len(expected)}{_first_mismatch(expected, stored)}); "
            f"pass weights saved from {arch}"
        )
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionstreamError(f"{path}: cannot be loaded into {where} ({first[:200]})") from exc


def _first_mismatch(expected: list[tuple], got: list[tuple]) -> str:
    from collections import Counter

    extra, missing = Counter(got) - Counter(expected), Counter(expected) - Counter(got)
    parts = []
    if extra:
        parts.append(f"the file has a {next(iter(extra))} array the model lacks")
    if missing:
        parts.append(f"the model needs a {next(iter(missing))} array the file lacks")
    return "; " + ", ".join(parts) if parts else ""


def _stored_shapes(path: Path) -> list[tuple]:
    """Shapes of the weight arrays in a .keras archive, a Keras 3 .weights.h5 or a legacy Keras .h5 file."""
    import io
    import zipfile

    import h5py

    try:
        if path.name.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                if "model.weights.h5" not in z.namelist():
                    raise ActionstreamError(f"{path}: not a Keras model archive (no model.weights.h5 inside)")
                with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                    return _h5_shapes(f)
        with h5py.File(path, "r") as f:
            return _h5_shapes(f["model_weights"] if "model_weights" in f else f)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionstreamError(f"{path}: not a readable Keras weights file ({first[:160]})") from exc


def _h5_shapes(group) -> list[tuple]:
    import h5py

    shapes: list[tuple] = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer"):
            shapes.append(tuple(obj.shape))

    group.visititems(visit)
    return shapes
