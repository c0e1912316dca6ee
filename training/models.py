"""Keras heads over a window of per-frame features, and the end-to-end model the demo is trained as.

Every head maps a (window, D) feature window to class probabilities:

    head = build_head("lstm", window=40, feature_size=2048, classes=24)            # the report's model
    joint = build_end_to_end(build_backbone("smallcnn", input_size=64), head, 40)  # train both at once
    # after joint.fit(...), `backbone` and `head` hold the trained weights: export them separately

TensorFlow is imported lazily (inside the functions), so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Head kinds, in the order the CLI lists them.
HEADS = ("lstm", "gru", "rnn-tanh", "rnn-relu", "meanpool", "attention")
#: The report's LSTM width (for InceptionV3's 2048-d features); smaller heads pass `units`.
DEFAULT_UNITS = 2048
#: The report's fully connected layers after the recurrent layer.
DEFAULT_DENSE = (512,)
#: Names of the head's tensors (the exporter reads them from the graph; these make it legible).
FEATURES_INPUT = "features"
FRAMES_INPUT = "frames"


def _recurrent(kind: str, units: int, dropout: float, return_sequences: bool = False):
    import keras

    if kind in ("lstm", "attention"):
        return keras.layers.LSTM(units, dropout=dropout, return_sequences=return_sequences, name=f"{kind}_rnn")
    # tf2onnx 1.17 turns only Keras' LSTM into one ONNX op; a GRU or SimpleRNN becomes a Loop. Unrolled over
    # the fixed window they become plain matrix products instead, which ONNX Runtime runs fast.
    if kind == "gru":
        return keras.layers.GRU(units, dropout=dropout, return_sequences=return_sequences, unroll=True, name="gru_rnn")
    activation = "tanh" if kind == "rnn-tanh" else "relu"
    return keras.layers.SimpleRNN(
        units,
        activation=activation,
        dropout=dropout,
        unroll=True,
        return_sequences=return_sequences,
        name=f"rnn_{activation}",
    )


def build_head(
    kind: str,
    window: int,
    feature_size: int,
    classes: int,
    units: int = DEFAULT_UNITS,
    dropout: float = 0.5,
    dense: Sequence[int] = DEFAULT_DENSE,
    name: str | None = None,
) -> "keras.Model":
    """A classifier over (window, feature_size) windows ending in a softmax over `classes`.

    lstm/gru/rnn-tanh/rnn-relu: one recurrent layer of `units` (input dropout `dropout`), its last state
    into the dense layers. meanpool: the CNN-only baseline; averages the window over time, so it cannot see
    order. attention: the report's suggested next step; a recurrent layer's per-step outputs pooled with
    learned weights over time (the LSTM underneath keeps order visible, which plain pooling would lose).
    """
    import keras

    if kind not in HEADS:
        raise ValueError(f"unknown head {kind!r}; choose one of {', '.join(HEADS)}")
    if window < 1 or feature_size < 1 or classes < 2 or units < 1:
        raise ValueError(
            f"bad head shape: window={window} feature_size={feature_size} classes={classes} "
            f"units={units} (classes must be >= 2)"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")

    x_in = keras.Input((window, feature_size), name=FEATURES_INPUT)
    if kind == "meanpool":
        x = keras.layers.GlobalAveragePooling1D(name="mean_over_time")(x_in)
        x = keras.layers.Dropout(dropout, name="pool_dropout")(x)
    elif kind == "attention":
        seq = _recurrent(kind, units, dropout, return_sequences=True)(x_in)  # B×T×U
        score = keras.layers.Dense(max(8, units // 4), activation="tanh", name="attn_hidden")(seq)
        score = keras.layers.Dense(1, name="attn_score")(score)  # B×T×1
        weights = keras.layers.Softmax(axis=1, name="attn_weights")(score)  # sums to 1 over T
        x = keras.layers.Dot(axes=1, name="attn_pool")([weights, seq])  # B×1×U
        x = keras.layers.Flatten(name="attn_flat")(x)
    else:
        x = _recurrent(kind, units, dropout)(x_in)
    for i, width in enumerate(dense):
        x = keras.layers.Dense(int(width), activation="relu", name=f"dense_{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    probs = keras.layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(x_in, probs, name=name or f"head_{kind.replace('-', '_')}")


def build_end_to_end(backbone: "keras.Model", head: "keras.Model", window: int) -> "keras.Model":
    """TimeDistributed(backbone) then head: trains a small CNN and its head together on frame windows.

    The joint model shares its layers with `backbone` and `head`, so after training they can be exported as
    the bundle's extractor and head unchanged: the joint model's output equals head(backbone(each frame)).
    """
    import keras

    h, w, c = backbone.input_shape[1:]
    if head.input_shape[1:] != (window, backbone.output_shape[-1]):
        raise ValueError(
            f"head expects {head.input_shape[1:]} but the backbone gives windows of "
            f"({window}, {backbone.output_shape[-1]})"
        )
    frames = keras.Input((window, h, w, c), name=FRAMES_INPUT)
    feats = keras.layers.TimeDistributed(backbone, name="per_frame_cnn")(frames)
    return keras.Model(frames, head(feats), name=f"end_to_end_{head.name}")
