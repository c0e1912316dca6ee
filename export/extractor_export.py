"""Export a per-frame backbone into a new bundle: extractor.onnx + manifest, parity checked, written atomically.

bundle = export_backbone("smallcnn", "none", Path("models/tiny"))
bundle = export_extractor(keras_model, Path("B"), FrameSpec(299, 299), {"arch": "inceptionv3", "weights": "imagenet"})
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from export.convert import keras_to_onnx, tool_versions, utc_now
from export.parity import check_parity, make_probe, onnx_outputs, parity, probe_recipe, seeded_input
from streaming.bundle import (
    EXTRACTOR_FILES,
    FILE_NAMES,
    MANIFEST,
    Bundle,
    Manifest,
    OnnxFile,
    bundle_writer,
    load_bundle,
    sha256_file,
    write_manifest,
)
from streaming.errors import ActionstreamError
from streaming.preprocess import FrameSpec
from streaming.progress import progress_bar

if TYPE_CHECKING:
    import keras

EXTRACTOR_INPUT, EXTRACTOR_OUTPUT = "frames", "features"
PARITY_SEED, PARITY_FRAMES = 0, 4
PROBE_SEED, PROBE_FRAMES = 1, 2
RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS (--weights none): these features mean nothing; for tests and plumbing "
    "only, not for recognising actions"
)


def export_backbone(
    arch: str, weights: str, out: str | Path, input_size: int | None = None, description: str = ""
) -> Bundle:
    """Build a backbone (see export.backbones) and export it as a new bundle at `out`."""
    from export.backbones import build_backbone, feature_size

    out = Path(out)
    check_out_dir(out)
    model = build_backbone(arch, weights=weights, input_size=input_size)
    size = int(model.input_shape[1])
    provenance: dict[str, Any] = {"arch": arch, "input_size": size}
    if weights in ("imagenet", "none"):
        provenance["weights"] = weights
    else:
        provenance.update(
            weights="file", weights_file=str(Path(weights).resolve()), weights_sha256=sha256_file(Path(weights))
        )
    if not description:
        description = f"{arch} {size}x{size} -> {feature_size(model)}-d features, weights: {weights}"
    return export_extractor(model, out, FrameSpec(size, size, "RGB", "inception"), provenance, description)


def export_extractor(
    model: "keras.Model", out: str | Path, frame: FrameSpec, provenance: dict, description: str = ""
) -> Bundle:
    """Convert a frames->features Keras model into a new bundle at `out` (replacing any bundle there).

    Nothing appears at `out` unless conversion, onnx.checker and Keras-vs-ORT parity all pass.
    """
    out = Path(out)
    check_out_dir(out)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1:] != (frame.height, frame.width, 3):
        raise ActionstreamError(
            f"{model.name}: input shape {shape} does not match frame {frame.height}x{frame.width}x3"
        )
    out_shape = tuple(model.output_shape)
    if len(out_shape) != 2 or not isinstance(out_shape[1], int):
        raise ActionstreamError(f"{model.name}: must output one feature vector per frame, got shape {out_shape}")
    feature_size = int(out_shape[1])
    provenance = dict(provenance)
    if provenance.get("weights") == "none":
        provenance.update(weights_random=True, warning=RANDOM_WEIGHTS_WARNING)
        if not description.startswith("RANDOM WEIGHTS"):
            description = f"{RANDOM_WEIGHTS_WARNING}. {description}".strip()
    metadata = {
        "actionstream.role": "extractor",
        "actionstream.feature_size": str(feature_size),
        "actionstream.frame": json.dumps(frame.to_dict()),
        "actionstream.arch": str(provenance.get("arch", model.name)),
        "actionstream.weights": str(provenance.get("weights", "unknown")),
    }
    started = time.perf_counter()
    with (
        progress_bar(total=3, desc=f"export {provenance.get('arch', model.name)}", unit="step") as bar,
        bundle_writer(out) as tmp,
    ):
        onnx_path = tmp / FILE_NAMES["extractor"]
        bar.set_postfix_str("tf2onnx")
        output_name = keras_to_onnx(
            model,
            onnx_path,
            (frame.height, frame.width, 3),
            EXTRACTOR_INPUT,
            metadata=metadata,
            output_name=EXTRACTOR_OUTPUT,
        )
        bar.update()
        bar.set_postfix_str("parity")
        x = seeded_input(probe_recipe(PARITY_SEED, (PARITY_FRAMES, frame.height, frame.width, 3), "uniform"))
        result = parity(model, onnx_path, x)
        check_parity(result, f"{out / FILE_NAMES['extractor']}")
        bar.update()
        bar.set_postfix_str("probe")
        recipe = probe_recipe(PROBE_SEED, (PROBE_FRAMES, frame.height, frame.width, 3), "uniform")
        probe = make_probe(recipe, onnx_outputs(onnx_path, seeded_input(recipe)))
        provenance.update(
            versions=tool_versions(), created=utc_now(), export_seconds=round(time.perf_counter() - started, 2)
        )
        manifest = Manifest(
            feature_size=feature_size,
            frame=frame,
            files={
                "extractor": OnnxFile(FILE_NAMES["extractor"], sha256_file(onnx_path), EXTRACTOR_INPUT, output_name)
            },
            parity={"extractor": result},
            probe={"extractor": probe},
            provenance=provenance,
            description=description,
        )
        write_manifest(tmp, manifest)
        bar.update()
    return load_bundle(out)


def check_out_dir(out: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier bundle: BundleWriter swaps the whole folder."""
    if out.is_file():
        raise ActionstreamError(f"{out}: is a file; --out must be a folder for the bundle")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ActionstreamError(
            f"{out}: folder exists and is not a bundle (no {MANIFEST}); choose a new or empty folder"
        )


def copy_extractor(src: str | Path, out: str | Path, description: str = "") -> Bundle:
    """A new bundle at `out` with `src`'s extractor (CNN or pose files, int8 copy, NOTICE) and no head.

    Training a head on an extractor that already exists — the pose pipeline, or a trained small CNN — starts
    here instead of exporting a Keras backbone; the head export then adds head.onnx and labels.
    """
    src_bundle = load_bundle(src)
    m = src_bundle.manifest
    out = Path(out)
    check_out_dir(out)
    roles = [r for r in (*EXTRACTOR_FILES[m.extractor_kind], "extractor_int8") if r in m.files]
    with bundle_writer(out) as tmp:
        for role in roles:
            shutil.copy2(src_bundle.path(role), tmp / m.files[role].path)
        for extra in ("NOTICE",):
            if (src_bundle.root / extra).is_file():
                shutil.copy2(src_bundle.root / extra, tmp / extra)
        copied = Manifest(
            feature_size=m.feature_size,
            frame=m.frame,
            files={r: m.files[r] for r in roles},
            sampling=m.sampling,
            extractor_kind=m.extractor_kind,
            pose=dict(m.pose),
            parity={k: v for k, v in m.parity.items() if not k.startswith("head")},
            probe={k: v for k, v in m.probe.items() if not k.startswith("head")},
            provenance={**{k: v for k, v in m.provenance.items() if k != "head"}, "extractor_from": str(src)},
            description=description or m.description,
        )
        write_manifest(tmp, copied)
    return load_bundle(out)
