"""Keras -> ONNX export: parity of both backbones and of an LSTM head, weights files, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_models import (
    LABELS,
    SMALL_SIZE,
    WINDOW,
    copy_bundle,
    error_lines,
    inceptionv3_bundle,
    last_json,
    run_cli,
    shared,
    small_head,
    smallcnn_bundle,
    smallcnn_head_bundle,
)

from export.parity import PARITY_TOLERANCE
from streaming.bundle import load_bundle
from streaming.errors import ActionstreamError, BundleError
from streaming.sampler import Sampling


@pytest.fixture(scope="session")
def smallcnn(tmp_path_factory):
    return shared("smallcnn", tmp_path_factory, smallcnn_bundle)


@pytest.fixture(scope="session")
def with_head(tmp_path_factory):
    return shared("smallcnn_head", tmp_path_factory, lambda p: smallcnn_head_bundle(p, tmp_path_factory))


@pytest.fixture(scope="session")
def inception(tmp_path_factory):
    return shared("inceptionv3", tmp_path_factory, inceptionv3_bundle)


def test_smallcnn_parity_recorded_and_real(smallcnn):
    from streaming.extractor import Extractor

    model, path = smallcnn
    bundle = load_bundle(path)
    m = bundle.manifest
    assert m.feature_size == 256 and (m.frame.height, m.frame.width) == (SMALL_SIZE, SMALL_SIZE)
    assert m.parity["extractor"]["max_abs_diff"] <= PARITY_TOLERANCE
    assert m.provenance["weights_random"] is True and m.description.startswith("RANDOM WEIGHTS")
    assert {"tensorflow", "keras", "tf2onnx", "onnxruntime", "onnx"} <= set(m.provenance["versions"])
    # independent re-check through the runtime's own Extractor, at batch sizes the export never saw
    extractor = Extractor(bundle, device="cpu")
    for n in (1, 5):
        x = np.random.default_rng(n).uniform(-1, 1, (n, SMALL_SIZE, SMALL_SIZE, 3)).astype(np.float32)
        diff = np.abs(extractor(x) - np.asarray(model(x, training=False))).max()
        assert diff <= PARITY_TOLERANCE


def test_onnx_file_carries_metadata(smallcnn):
    import onnx

    _, path = smallcnn
    props = {p.key: p.value for p in onnx.load(str(path / "extractor.onnx")).metadata_props}
    assert props["actionstream.role"] == "extractor" and props["actionstream.feature_size"] == "256"
    assert json.loads(props["actionstream.frame"])["height"] == SMALL_SIZE


def test_lstm_head_exports_as_one_lstm_op_with_parity(with_head):
    from export.convert import op_types
    from export.head_export import without_cudnn
    from streaming.head import Head

    head, path = with_head
    bundle = load_bundle(path)
    m = bundle.manifest
    ops = op_types(path / "head.onnx")
    assert "LSTM" in ops and not ops & {"Loop", "Scan"}
    assert m.parity["head"]["max_abs_diff"] <= PARITY_TOLERANCE and m.parity["head"]["top1_agreement"] == 1.0
    assert m.labels == LABELS and m.sampling == Sampling("stride", 10.0, WINDOW)
    assert m.provenance["head"]["rebuilt_without_cudnn"] is True
    # the head was built with use_cudnn=True (cannot even run on this CPU); the runtime's Head agrees with the
    # same weights in Keras on fresh windows
    x = np.random.default_rng(9).standard_normal((4, WINDOW, 256)).astype(np.float32)
    probs = Head(bundle, device="cpu")(x)
    assert np.abs(probs - np.asarray(without_cudnn(head)(x, training=False))).max() <= PARITY_TOLERANCE
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_gru_head_is_refused_because_it_exports_as_a_loop(smallcnn, tmp_path):
    """tf2onnx 1.17 turns a Keras 3 GRU into a Loop: export must say so and write nothing."""
    from export.head_export import export_head

    path = copy_bundle(smallcnn[1], tmp_path / "b")
    with pytest.raises(ActionstreamError) as err:
        export_head(
            small_head(256, classes=2, units=16, window=8, cell="GRU"), path, ["a", "b"], Sampling("segments", 10.0, 8)
        )
    assert "\n" not in str(err.value) and "Loop" in str(err.value) and "use an LSTM head" in str(err.value)
    assert not (path / "head.onnx").exists() and load_bundle(path).manifest.labels == []


@pytest.mark.parametrize("kind", ["gru", "rnn-relu"])
def test_training_heads_unrolled_over_the_window_export_with_parity(smallcnn, tmp_path, kind):
    """Training unrolls GRU/SimpleRNN heads over the fixed window, so they export as plain ops, not a Loop."""
    from export.head_export import export_head
    from streaming.head import Head
    from training.models import build_head

    path = copy_bundle(smallcnn[1], tmp_path / "b")
    head = build_head(kind, 8, 256, 2, units=16, dense=(8,))
    bundle = export_head(head, path, ["a", "b"], Sampling(window=8))
    assert bundle.manifest.parity["head"]["max_abs_diff"] <= PARITY_TOLERANCE
    x = np.random.default_rng(3).standard_normal((2, 8, 256)).astype(np.float32)
    assert np.abs(Head(bundle, device="cpu")(x) - np.asarray(head(x, training=False))).max() <= PARITY_TOLERANCE


def test_head_refuses_other_feature_size_and_writes_nothing(smallcnn, tmp_path):
    from export.head_export import export_head

    path = copy_bundle(smallcnn[1], tmp_path / "b")
    before = (path / "manifest.json").read_text()
    with pytest.raises(BundleError) as err:
        export_head(small_head(128), path, LABELS, Sampling())
    msg = str(err.value)
    assert "\n" not in msg and "128-d" in msg and "256-d" in msg
    assert (path / "manifest.json").read_text() == before and not (path / "head.onnx").exists()
    assert not list(tmp_path.glob(".b.*")), "a temporary bundle folder was left behind"


def test_head_refuses_label_count_mismatch(smallcnn, tmp_path):
    from export.head_export import export_head

    path = copy_bundle(smallcnn[1], tmp_path / "b")
    with pytest.raises(BundleError) as err:
        export_head(small_head(256, classes=3), path, ["only", "two"], Sampling())
    assert "\n" not in str(err.value) and "3 classes but 2 labels" in str(err.value)
    assert not (path / "head.onnx").exists()


def test_head_refuses_logits_head(smallcnn, tmp_path):
    import keras
    from keras import layers

    from export.head_export import export_head

    path = copy_bundle(smallcnn[1], tmp_path / "b")
    logits = keras.Sequential([keras.Input((WINDOW, 256)), layers.LSTM(8), layers.Dense(3)])
    with pytest.raises(ActionstreamError, match="not probabilities"):
        export_head(logits, path, LABELS, Sampling())


def _save_weights(model, path):
    if path.name.endswith(".weights.h5"):
        model.save_weights(path)
    else:
        model.save(path)
    return path


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras", ".h5"])
def test_weights_file_loads_and_wrong_architecture_is_refused(smallcnn, tmp_path, suffix):
    from export.backbones import build_backbone

    model, _ = smallcnn
    good = _save_weights(model, tmp_path / f"good{suffix}")
    loaded = build_backbone("smallcnn", str(good), SMALL_SIZE)
    x = np.random.default_rng(3).uniform(-1, 1, (2, SMALL_SIZE, SMALL_SIZE, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    # a deeper CNN whose first four blocks match: Keras alone would load it silently
    import keras
    from keras import layers

    inputs = keras.Input((64, 64, 3))
    h = inputs
    for f in (32, 64, 128, 256, 256):
        h = layers.MaxPooling2D(2)(layers.Conv2D(f, 3, padding="same")(h))
    deeper = keras.Model(inputs, layers.GlobalAveragePooling2D()(h))
    bad = _save_weights(deeper, tmp_path / f"bad{suffix}")
    with pytest.raises(ActionstreamError) as err:
        build_backbone("smallcnn", str(bad), SMALL_SIZE)
    assert "\n" not in str(err.value) and "another architecture" in str(err.value)


def test_bad_weights_values(tmp_path):
    from export.backbones import build_backbone

    with pytest.raises(ActionstreamError, match="weights file not found"):
        build_backbone("smallcnn", str(tmp_path / "nope.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ActionstreamError, match="not a readable Keras weights file"):
        build_backbone("smallcnn", str(junk))
    with pytest.raises(ActionstreamError, match="only for inceptionv3"):
        build_backbone("smallcnn", "imagenet")
    with pytest.raises(ActionstreamError, match="unknown backbone"):
        build_backbone("resnet", "none")


def test_export_refuses_a_folder_that_is_not_a_bundle(smallcnn, tmp_path):
    from export.extractor_export import export_extractor
    from streaming.preprocess import FrameSpec

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ActionstreamError, match="not a bundle"):
        export_extractor(smallcnn[0], out, FrameSpec(SMALL_SIZE, SMALL_SIZE), {"arch": "smallcnn"})
    assert (out / "notes.txt").read_text() == "keep me"


def test_cli_smallcnn_backbone_then_verify_json(tmp_path):
    out = tmp_path / "B"
    r = run_cli("backbone", "--arch", "smallcnn", "--weights", "none", "--input-size", "48", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "RANDOM WEIGHTS" in r.stderr and "Traceback" not in r.stderr
    v = run_cli("verify", out, "--json")
    assert v.returncode == 0, v.stderr
    result = last_json(v.stdout)
    assert result["ok"] is True and result["max_abs_diff"] <= PARITY_TOLERANCE
    assert set(result["providers"]) == {"extractor"}


def test_cli_user_errors_are_one_line(smallcnn, tmp_path):
    model, _ = smallcnn
    wrong = tmp_path / "wrong.weights.h5"
    small_head(256).save_weights(wrong)
    cases = [
        (["backbone", "--arch", "smallcnn", "--weights", wrong, "--out", tmp_path / "o1"], "another architecture"),
        (
            ["backbone", "--arch", "smallcnn", "--weights", tmp_path / "missing.h5", "--out", tmp_path / "o2"],
            "weights file not found",
        ),
        (["verify", tmp_path / "nowhere"], "bundle folder not found"),
        (["head", "--keras", tmp_path / "none.keras", "--bundle", tmp_path], "no such Keras model file"),
        (["quantize", tmp_path / "nowhere", "--calibration", tmp_path], "bundle folder not found"),
    ]
    for args, expected in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        errors = error_lines(r.stderr)
        assert len(errors) == 1 and expected in errors[0], (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_cli_head_uses_meta_json_labels(smallcnn, tmp_path):
    from export.head_export import write_head_meta

    path = copy_bundle(smallcnn[1], tmp_path / "b")
    keras_file = tmp_path / "head.keras"
    small_head(256, classes=2, units=16).save(keras_file)
    r = run_cli("head", "--keras", keras_file, "--bundle", path)
    assert r.returncode == 2 and "no labels" in error_lines(r.stderr)[0]
    write_head_meta(keras_file, ["walk", "run"], Sampling("stride", 5.0, WINDOW))
    r = run_cli("head", "--keras", keras_file, "--bundle", path)
    assert r.returncode == 0, r.stderr
    m = load_bundle(path).manifest
    assert m.labels == ["walk", "run"] and m.sampling == Sampling("stride", 5.0, WINDOW)
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n")
    r = run_cli("head", "--keras", keras_file, "--bundle", path, "--labels", labels)
    assert r.returncode == 2 and "2 classes but 3 labels" in error_lines(r.stderr)[0]
    assert load_bundle(path).manifest.labels == ["walk", "run"]  # unchanged by the refused export


def test_cli_imagenet_without_network_is_one_line(tmp_path, monkeypatch):
    """Keras' own download fails (proxy pointed at a closed local port: nothing is fetched) -> one clear line."""
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    r = run_cli("backbone", "--arch", "inceptionv3", "--weights", "imagenet", "--out", tmp_path / "B")
    assert r.returncode == 2, r.stderr[-1500:]
    errors = error_lines(r.stderr)
    assert len(errors) == 1 and "ImageNet weights" in errors[0] and "--weights PATH" in errors[0]
    assert "Traceback" not in r.stderr and not (tmp_path / "B").exists()


@pytest.mark.slow
def test_inceptionv3_export_parity_and_verify(inception):
    """The one InceptionV3 export of the suite (CLI, its own process): parity, provenance, verify --json."""
    m = load_bundle(inception).manifest
    assert m.feature_size == 2048 and (m.frame.height, m.frame.width) == (299, 299)
    assert m.frame.preprocessing == "inception" and m.frame.color == "RGB"
    assert m.parity["extractor"]["max_abs_diff"] <= PARITY_TOLERANCE
    assert m.provenance["arch"] == "inceptionv3" and m.provenance["weights"] == "none"
    assert m.provenance["weights_random"] is True and "RANDOM WEIGHTS" in m.description
    import onnx  # the nine pooling branches were moved after their 1x1 convolutions (export.graph_rewrite)

    meta = {
        p.key: p.value for p in onnx.load(str(inception / "extractor.onnx"), load_external_data=False).metadata_props
    }
    assert meta["actionstream.rewrites"] == "pool_after_pointwise_conv: 9"
    v = run_cli("verify", inception, "--json")
    assert v.returncode == 0, v.stderr
    result = last_json(v.stdout)
    assert result["ok"] is True and result["max_abs_diff"] <= PARITY_TOLERANCE and result["providers"]
