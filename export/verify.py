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
from streaming.bundle import Bundle, load_bundle
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
    if m.has_head:
        checks.append(("labels", True, f"{len(m.labels)} labels, one per head output"))
    providers: dict[str, str] = {}
    diffs: list[float] = []
    for role in m.files:
        ok, detail, provider, diff = _check_probe(bundle, role, device)
        checks.append((f"probe.{role}", ok, detail))
        if provider:
            providers[role] = provider
        if diff is not None and not role.endswith("_int8"):
            diffs.append(diff)
    return VerifyResult(all(ok for _, ok, _ in checks), max(diffs) if diffs else None, providers, checks)


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
