"""The bundle's refusals (one clear line naming the file) and verify's checks, on real exported bundles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_models import (
    LABELS,
    WINDOW,
    copy_bundle,
    edit_manifest,
    error_lines,
    flip_byte,
    last_json,
    rehash,
    run_cli,
    shared,
    smallcnn_head_bundle,
)

from export.parity import PARITY_TOLERANCE
from export.verify import verify_bundle
from streaming.bundle import FORMAT_VERSION, bundle_writer, load_bundle, write_manifest
from streaming.errors import BundleError


@pytest.fixture(scope="session")
def with_head(tmp_path_factory):
    return shared("smallcnn_head", tmp_path_factory, lambda p: smallcnn_head_bundle(p, tmp_path_factory))[1]


@pytest.fixture(scope="session")
def head_128_onnx(tmp_path_factory):
    """A head ONNX for 128-d features, to put into a 256-d bundle."""
    from tiny_models import small_head

    from export.convert import keras_to_onnx

    def build(path):
        path.mkdir()
        keras_to_onnx(small_head(128, units=8), path / "head.onnx", (WINDOW, 128), "windows")
        return path / "head.onnx"

    return shared("head_128", tmp_path_factory, build)


@pytest.fixture
def bundle(with_head, tmp_path):
    return copy_bundle(with_head, tmp_path / "bundle")


def refusal(root) -> str:
    with pytest.raises(BundleError) as err:
        load_bundle(root)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def test_good_bundle_loads(bundle):
    b = load_bundle(bundle)
    assert b.manifest.labels == LABELS and b.manifest.has_head and b.manifest.feature_size == 256


def test_missing_file(bundle):
    (bundle / "head.onnx").unlink()
    msg = refusal(bundle)
    assert "head.onnx" in msg and "missing" in msg


def test_flipped_byte_is_a_hash_mismatch(bundle):
    flip_byte(bundle / "extractor.onnx")
    msg = refusal(bundle)
    assert "extractor.onnx" in msg and "sha256 mismatch" in msg


def test_feature_size_mismatch_between_extractor_and_head(bundle, head_128_onnx):
    (bundle / "head.onnx").write_bytes(head_128_onnx.read_bytes())
    rehash(bundle, "head")
    msg = refusal(bundle)
    assert "head.onnx" in msg and "128-d" in msg and "256-d" in msg


def test_label_count_mismatch(bundle):
    edit_manifest(bundle, lambda m: m.__setitem__("labels", ["a", "b"]))
    msg = refusal(bundle)
    assert "head.onnx" in msg and "3 classes" in msg and "2 labels" in msg


def test_unknown_format_version(bundle):
    edit_manifest(bundle, lambda m: m.__setitem__("format_version", FORMAT_VERSION + 98))
    msg = refusal(bundle)
    assert "manifest.json" in msg and f"version {FORMAT_VERSION + 98}" in msg


def test_corrupt_onnx_with_matching_hash(bundle):
    (bundle / "extractor.onnx").write_bytes(b"\x08\x07garbage, not a protobuf model" * 10)
    rehash(bundle, "extractor")
    msg = refusal(bundle)
    assert "extractor.onnx" in msg and "not a loadable ONNX model" in msg


def test_not_a_bundle_and_bad_json(tmp_path):
    assert "not found" in refusal(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert "manifest.json" in refusal(tmp_path / "empty") and "missing" in refusal(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    assert "not valid JSON" in refusal(tmp_path / "bad")


def test_bundle_writer_leaves_nothing_on_failure(bundle):
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    with pytest.raises(RuntimeError):
        with bundle_writer(bundle, start_from_existing=True) as tmp:
            (tmp / "head.onnx").write_bytes(b"half-written")
            raise RuntimeError("interrupted")
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert not list(bundle.parent.glob(".bundle.*"))


def test_bundle_files_are_readable_by_others(bundle):
    assert (bundle / "manifest.json").stat().st_mode & 0o044 and (bundle / "head.onnx").stat().st_mode & 0o044


def test_verify_good_bundle(bundle):
    result = verify_bundle(bundle, device="cpu")
    assert result.ok, result.checks
    assert result.max_abs_diff is not None and result.max_abs_diff <= PARITY_TOLERANCE
    names = [name for name, _, _ in result.checks]
    assert {"hashes", "shapes", "labels", "probe.extractor", "probe.head"} <= set(names)
    assert result.providers == {"extractor": "CPUExecutionProvider", "head": "CPUExecutionProvider"}
    json.dumps(result.to_dict())


def test_probe_is_reproducible_from_its_recipe(bundle):
    """The manifest says how to regenerate the probe input; any machine can redo it with NumPy alone."""
    from export.parity import input_digest, seeded_input
    from streaming.extractor import Extractor

    probe = load_bundle(bundle).manifest.probe["extractor"]
    x = seeded_input(probe)
    assert input_digest(x) == probe["input_sha256"] and list(x.shape) == probe["shape"]
    out = Extractor(load_bundle(bundle), device="cpu")(x)
    assert np.abs(out - np.asarray(probe["outputs"], np.float32)).max() <= PARITY_TOLERANCE


def test_verify_catches_a_changed_probe(bundle):
    def shift(m):
        m["probe"]["head"]["outputs"][0][0] += 0.01

    edit_manifest(bundle, shift)
    result = verify_bundle(bundle, device="cpu")
    assert not result.ok and result.first_failure.startswith("probe.head")
    r = run_cli("verify", bundle, "--json")
    assert r.returncode == 1
    assert last_json(r.stdout)["ok"] is False and len(error_lines(r.stderr)) == 1


def test_cli_verify_flipped_byte_fails_with_one_line(bundle):
    flip_byte(bundle / "extractor.onnx")
    r = run_cli("verify", bundle, "--json")
    assert r.returncode == 2
    errors = error_lines(r.stderr)
    assert len(errors) == 1 and "extractor.onnx" in errors[0] and "sha256 mismatch" in errors[0]
    assert "Traceback" not in r.stderr
    result = last_json(r.stdout)
    assert result["ok"] is False and result["max_abs_diff"] is None


def test_cli_verify_other_format_version(bundle):
    edit_manifest(bundle, lambda m: m.__setitem__("format_version", 99))
    r = run_cli("verify", bundle)
    assert r.returncode == 2 and "version 99" in error_lines(r.stderr)[0]


def test_manifest_round_trips(bundle):
    m = load_bundle(bundle).manifest
    write_manifest(bundle, m)
    assert load_bundle(bundle).manifest == m
