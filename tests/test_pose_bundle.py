"""The committed pose bundle (models/pose): it loads, says what it is, its shapes are checked, and
`python -m export pose` rebuilds it bit for bit (when the pinned mediapipe wheel is cached; tests never download)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from export import pose_export as pe
from export.cli import main as export_main
from streaming.bundle import MANIFEST, load_bundle, sha256_file
from streaming.errors import BundleError
from streaming.pose_spec import PoseSpec

REPO = Path(__file__).resolve().parents[1]
POSE_BUNDLE = REPO / "models" / "pose"
ONNX_FILES = ("pose_detector.onnx", "pose_landmarks.onnx")


def test_committed_pose_bundle_loads_and_describes_itself():
    bundle = load_bundle(POSE_BUNDLE)  # hashes and shapes checked
    m = bundle.manifest
    assert m.extractor_kind == "pose" and not m.has_head and m.labels == []
    assert set(m.files) == {"pose_detector", "pose_landmarks"}
    assert {f.path for f in m.files.values()} == set(ONNX_FILES)
    assert m.files["pose_detector"].input == m.files["pose_landmarks"].input == "image"
    assert m.feature_size == PoseSpec().feature_size == 43
    assert PoseSpec.from_dict(m.pose) == PoseSpec()
    assert (m.frame.height, m.frame.width, m.frame.color) == (256, 256, "RGB")
    assert (m.sampling.feature_rate, m.sampling.window) == (10.0, 40)
    p = m.provenance
    assert p["license"] == "Apache-2.0" and p["wheel"] == pe.WHEEL_NAME and p["wheel_sha256"] == pe.WHEEL_SHA256
    assert p["inner_paths"] == {pe.DETECTOR_FILE: pe.DETECTOR_INNER_PATH, pe.LANDMARK_FILE: pe.LANDMARK_INNER_PATH}
    for tool in ("tf2onnx", "onnx", "tensorflow", "onnxruntime", "opset"):
        assert p[tool]
    for role, f in m.files.items():
        assert p["models"][f.path]["sha256"] == f.sha256
        for inputs in ("random", "real"):
            for name, diff in m.parity[role][inputs].items():
                bound = m.parity["bounds"].get(name, 1e-4)  # batch-1-vs-batch-8 gaps: 1e-4
                assert 0.0 <= diff <= bound, (role, inputs, name)
    notice = (POSE_BUNDLE / "NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice and pe.WHEEL_SHA256 in notice
    assert sorted(x.name for x in POSE_BUNDLE.iterdir()) == sorted([MANIFEST, "NOTICE", *ONNX_FILES])


def test_committed_pose_bundle_runs(ucf_mini):
    """The bundle's own files and settings find the pitcher in a real clip."""
    import cv2

    from streaming.pose_extractor import PoseExtractor

    bundle = load_bundle(POSE_BUNDLE)
    extractor = PoseExtractor(
        bundle.path("pose_detector"),
        bundle.path("pose_landmarks"),
        PoseSpec.from_dict(bundle.manifest.pose),
        device="cpu",
        threads=2,
    )
    clip = sorted((ucf_mini / "UCF-101" / "BaseballPitch").glob("*.avi"))[0]
    cap = cv2.VideoCapture(str(clip))
    frames = [cap.read()[1] for _ in range(10)]
    cap.release()
    state = extractor.new_state()
    results = [extractor.extract([f], [state]) for f in frames]
    assert sum(r.persons[0] is not None for r in results) >= 8
    assert all(r.features.shape == (1, bundle.manifest.feature_size) for r in results)


@pytest.fixture
def bundle_copy(tmp_path) -> Path:
    out = tmp_path / "pose"
    shutil.copytree(POSE_BUNDLE, out)
    return out


def _edit_manifest(root: Path, edit) -> None:
    path = root / MANIFEST
    d = json.loads(path.read_text())
    edit(d)
    path.write_text(json.dumps(d))


def test_load_refuses_a_feature_size_the_pose_settings_do_not_give(bundle_copy):
    _edit_manifest(bundle_copy, lambda d: d.update(feature_size=41))
    with pytest.raises(BundleError, match="feature_size 41"):
        load_bundle(bundle_copy)


def test_load_refuses_pose_settings_that_do_not_fit_the_models(bundle_copy):
    _edit_manifest(bundle_copy, lambda d: d["pose"].update(det_size=192))
    with pytest.raises(BundleError, match=r"pose_detector\.onnx: input .* 192x192x3"):
        load_bundle(bundle_copy)


def test_load_refuses_swapped_models(bundle_copy):
    def swap(d):
        d["files"]["pose_detector"], d["files"]["pose_landmarks"] = (
            d["files"]["pose_landmarks"],
            d["files"]["pose_detector"],
        )

    _edit_manifest(bundle_copy, swap)
    with pytest.raises(BundleError, match="pose_landmarks.onnx: input"):
        load_bundle(bundle_copy)


def test_load_refuses_unknown_pose_settings_and_a_missing_model(bundle_copy):
    _edit_manifest(bundle_copy, lambda d: d["pose"].update(warp_drive=True))
    with pytest.raises(BundleError, match="bad pose settings"):
        load_bundle(bundle_copy)
    _edit_manifest(bundle_copy, lambda d: (d["pose"].pop("warp_drive"), d["files"].pop("pose_landmarks")))
    with pytest.raises(BundleError, match="names no pose_landmarks file"):
        load_bundle(bundle_copy)


# ---------------------------------------------------------------------------------------------------- the CLI


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_cli_pose_missing_wheel_is_one_line_exit_2(tmp_path, capsys):
    code = export_main(["pose", "--out", str(tmp_path / "b"), "--wheel", str(tmp_path / "nope.whl")])
    assert code == 2 and "nope.whl: no such wheel file" in _one_error_line(capsys)
    assert not (tmp_path / "b").exists()


def test_cli_pose_wrong_wheel_is_one_line_exit_2(tmp_path, capsys):
    fake = tmp_path / pe.WHEEL_NAME
    fake.write_bytes(b"not the wheel")
    code = export_main(["pose", "--out", str(tmp_path / "b"), "--wheel", str(fake)])
    assert code == 2 and pe.WHEEL_SHA256 in _one_error_line(capsys)
    assert not (tmp_path / "b").exists()


def test_cli_pose_refuses_to_replace_a_folder_that_is_not_a_bundle(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "precious.txt").write_text("keep me")
    assert export_main(["pose", "--out", str(tmp_path / "b")]) == 2
    assert "not a bundle" in _one_error_line(capsys)
    assert (tmp_path / "b" / "precious.txt").read_text() == "keep me"


def test_cli_pose_no_network_and_no_cached_wheel(tmp_path, monkeypatch, capsys):
    """No wheel anywhere and pip cannot reach an index: one line naming --wheel, exit 2 (no download happens)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(pe.ENV_WHEEL, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    pytest.importorskip("tensorflow")
    code = export_main(["pose", "--out", str(tmp_path / "b")])
    line = _one_error_line(capsys)
    assert code == 2 and "could not download" in line and "--wheel" in line
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------------- rebuild


def test_export_pose_rebuilds_the_committed_bundle_bit_for_bit(tmp_path, capsys):
    wheel = pe.cached_wheel()
    if wheel is None:
        pytest.skip(
            f"{pe.WHEEL_NAME} is not in {pe.default_cache_dir()} and ${pe.ENV_WHEEL} is unset "
            "(tests never download; `python -m export pose --out DIR` fetches it once)"
        )
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    out = tmp_path / "pose"
    assert export_main(["pose", "--out", str(out), "--wheel", str(wheel)]) == 0
    assert "wrote" in capsys.readouterr().out
    for name in (*ONNX_FILES, "NOTICE"):
        assert sha256_file(out / name) == sha256_file(POSE_BUNDLE / name), name
    # the manifest too, except the parity figures: they compare ONNX Runtime with the TFLite interpreter on this
    # CPU, whose kernels may round differently elsewhere (the bounds are checked on every export)
    built, committed = (json.loads((d / MANIFEST).read_text()) for d in (out, POSE_BUNDLE))
    built.pop("parity"), committed.pop("parity")
    assert built == committed
    assert load_bundle(out).manifest.extractor_kind == "pose"
