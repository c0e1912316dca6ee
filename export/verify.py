"""Re-check a bundle on this machine: hashes, shapes, labels, and each file's probe re-run and compared.

    result = verify_bundle("models/demo")
    print(result.ok, result.max_abs_diff, result.providers)

Imports no TensorFlow: the probe inputs are regenerated from their seeds with NumPy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from export.parity import PARITY_TOLERANCE, compare, input_digest, seeded_input
from streaming.bundle import EXTRACTOR_FILES, Bundle, head_labels, load_bundle
from streaming.errors import BundleError
from streaming.providers import choose_providers, create_session

#: int8 files are compared with their own export-time outputs by cosine: another CPU's int8 kernels may round
#: a value differently, which shifts it by a quantization step, not by float noise.
INT8_PROBE_MIN_COSINE = 0.999
#: On CUDA, fp32 convolutions may use TF32 or other algorithms than the CPU used at export: allow this much
#: relative to the output's largest magnitude.
CUDA_RELATIVE_TOLERANCE = 1e-3


@dataclass
class VerifyResult:
    """ok only if every check holds; max_abs_diff is the largest fp32 probe difference (None if none ran)."""

    ok: bool
    max_abs_diff: float | None
    providers: dict[str, str] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def first_failure(self) -> str | None:
        return next((f"{name}: {detail}" for name, ok, detail in self.checks if not ok), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "max_abs_diff": self.max_abs_diff,
            "providers": self.providers,
            "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in self.checks],
            "error": self.first_failure,
        }


def verify_bundle(root: str | os.PathLike, device: str = "auto") -> VerifyResult:
    """Validate the bundle and re-run every probe recorded in its manifest on `device`.

    Raises ProviderError for device="cuda" where CUDA cannot load; every bundle problem is a failed check.
    """
    choose_providers(device)  # fail fast and clearly on --device cuda without CUDA
    checks: list[tuple[str, bool, str]] = []
    try:
        bundle = load_bundle(root)
    except BundleError as exc:
        return VerifyResult(False, None, {}, [("bundle", False, str(exc))])
    m = bundle.manifest
    checks.append(("hashes", True, f"sha256 of {len(m.files)} file(s) match the manifest"))
    checks.append(
        (
            "shapes",
            True,
            f"extractor {m.frame.height}x{m.frame.width}x3 -> {m.feature_size}"
            + (f"; head {m.sampling.window}x{m.feature_size} -> {len(m.labels)}" if m.has_head else "; no head"),
        )
    )
    if m.has_head:  # load_bundle refused labels that differ from those inside the head
        inside = head_labels(bundle.path("head")) is not None
        checks.append(
            (
                "labels",
                True,
                f"{len(m.labels)} labels, one per head output"
                + (
                    ", the same as inside head.onnx"
                    if inside
                    else " (head.onnx carries none to compare with: an older export)"
                ),
            )
        )
    providers: dict[str, str] = {}
    diffs: list[float] = []
    if m.extractor_kind == "pose":
        ok, detail, provider = _check_pose_pipeline(bundle, device)
        checks.append(("pose.pipeline", ok, detail))
        if provider:
            providers.update({role: provider for role in EXTRACTOR_FILES["pose"]})
    for role in m.files:
        if role in EXTRACTOR_FILES["pose"]:
            continue  # checked above, through the pipeline that uses them
        ok, detail, provider, diff = _check_probe(bundle, role, device)
        checks.append((f"probe.{role}", ok, detail))
        if provider:
            providers[role] = provider
        if diff is not None and not role.endswith("_int8"):
            diffs.append(diff)
    return VerifyResult(all(ok for _, ok, _ in checks), max(diffs) if diffs else None, providers, checks)


def _check_pose_pipeline(bundle: Bundle, device: str) -> tuple[bool, str, str | None]:
    """The pose pipeline runs here and says sensible things: nobody on a black frame, finite features always.

    The two BlazePose files were compared with MediaPipe's TFLite interpreter at export (the manifest's parity,
    against bounds it records); their raw outputs are crop-pixel landmarks and 27k box values, which another
    CPU rounds differently, so the check here is the pipeline's behaviour rather than a bitwise probe.
    """
    from streaming.extractor import open_extractor

    try:
        extractor = open_extractor(bundle, device=device)
    except BundleError as exc:
        return False, str(exc), None
    rng = np.random.default_rng(0)
    frames = [np.zeros((240, 320, 3), np.uint8), rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)]
    result = extractor.extract(frames, [extractor.new_state() for _ in frames])
    feats = np.asarray(result.features)
    if feats.shape != (2, bundle.manifest.feature_size) or not np.isfinite(feats).all():
        return False, f"pose pipeline gave features of shape {feats.shape} (or non-finite values)", None
    if result.persons[0] is not None or feats[0].any():
        return False, "pose pipeline found a person on a black frame", None
    recorded = bundle.manifest.parity
    bounds = recorded.get("bounds", {})
    worst = [
        (name, value, bounds[name])
        for role in EXTRACTOR_FILES["pose"]
        for name, value in recorded.get(role, {}).get("real", {}).items()
        if name in bounds
    ]
    beyond = [f"{n} {v:.3g} > {b:g}" for n, v, b in worst if v > b]
    if beyond:
        return False, f"export-time parity beyond its bounds: {', '.join(beyond)}", extractor.provider
    detail = (
        f"detector and landmark model run; nobody on a black frame; export-time parity vs TFLite within bounds "
        f"on {len(worst)} outputs"
    )
    return True, detail, extractor.provider


def _check_probe(bundle: Bundle, role: str, device: str) -> tuple[bool, str, str | None, float | None]:
    """(ok, detail, provider, max_abs_diff) for one file's probe."""
    probe = bundle.manifest.probe.get(role)
    path = bundle.path(role)
    if not probe:
        return False, f"{path}: no probe recorded in the manifest; re-export the bundle", None, None
    try:
        x = seeded_input(probe)
        expected = np.asarray(probe["outputs"], np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"{path}: malformed probe in the manifest ({type(exc).__name__}: {exc})", None, None
    if probe.get("input_sha256") and input_digest(x) != probe["input_sha256"]:
        return (
            False,
            (
                f"{path}: the probe input could not be regenerated identically (NumPy's random stream "
                "differs from export time); re-export on this NumPy"
            ),
            None,
            None,
        )
    sess = create_session(path, device=device)
    provider = sess.get_providers()[0]
    got = sess.run([sess.get_outputs()[0].name], {sess.get_inputs()[0].name: x})[0]
    if got.reshape(len(x), -1).shape != expected.reshape(len(x), -1).shape:
        return False, f"{path}: output shape {got.shape} differs from the probe's {expected.shape}", provider, None
    r = compare(expected, got)
    diff = r["max_abs_diff"]
    if role.endswith("_int8"):
        ok = r["cosine_min"] >= INT8_PROBE_MIN_COSINE
        return (
            ok,
            (
                f"{path}: int8 output vs export time: cosine min {r['cosine_min']:.6f} (need >= "
                f"{INT8_PROBE_MIN_COSINE}), max abs diff {diff:.3g} on {provider}"
            ),
            provider,
            diff,
        )
    tol = PARITY_TOLERANCE
    if provider == "CUDAExecutionProvider":
        tol = max(tol, CUDA_RELATIVE_TOLERANCE * float(np.abs(expected).max(initial=0.0)))
    ok = diff <= tol
    return ok, f"{path}: max abs diff {diff:.3g} vs export time (tolerance {tol:.3g}) on {provider}", provider, diff


def describe(result: VerifyResult) -> list[str]:
    """Human-readable lines, one per check, then a summary."""
    lines = [f"{'ok  ' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in result.checks]
    if result.ok:
        diff = "n/a" if result.max_abs_diff is None else f"{result.max_abs_diff:.3g}"
        lines.append(
            f"verified: all {len(result.checks)} checks hold (max abs diff {diff}; providers "
            f"{', '.join(sorted(set(result.providers.values()))) or 'none'})"
        )
    return lines
