"""Layers built from keras sublayers stay quantized through `.keras` files.

`model.quantize(mode)` quantizes leaf layers: the tables and projections
inside `HashEmbedding`, `QREmbedding`, `MixedDimensionEmbedding`,
`SubwordEmbedding`, `TokenAndPositionEmbedding` and `MaskedLMHead`. Their
configs must record that, or a reloaded model rebuilds float sublayers and
cannot load the quantized variables.
"""

import keras
import numpy as np
import pytest
from embed_testing import assert_saves_and_loads
from embed_testing import to_numpy

from keras_embed.layers import HashEmbedding
from keras_embed.layers import MaskedLMHead
from keras_embed.layers import MixedDimensionEmbedding
from keras_embed.layers import QREmbedding
from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import SubwordEmbedding
from keras_embed.layers import TokenAndPositionEmbedding

SEQUENCE = 5

# name -> (layer factory, inputs, the sublayers `model.quantize` reaches)
COMPOSITES = {
    "HashEmbedding": (lambda: HashEmbedding(64, 8), "ids", ["buckets"]),
    "QREmbedding": (lambda: QREmbedding(60, 8, 7), "ids", ["quotient", "remainder"]),
    "MixedDimensionEmbedding": (
        lambda: MixedDimensionEmbedding([20, 40], 8, dims=[8, 4]),
        "ids",
        ["table_0", "table_1", "projection_1"],
    ),
    "SubwordEmbedding": (lambda: SubwordEmbedding(30, 30, 8), "pieces", ["table"]),
    "TokenAndPositionEmbedding": (
        lambda: TokenAndPositionEmbedding(60, SEQUENCE, 8),
        "ids",
        ["token_embedding"],
    ),
}


def inputs_for(kind):
    rng = np.random.default_rng(0)
    if kind == "pieces":  # Rows of the subword table per word; -1 pads.
        return rng.integers(-1, 60, size=(6, SEQUENCE, 4))
    return rng.integers(1, 50, size=(6, SEQUENCE))


def sublayer(layer, name):
    [found] = [item for item in layer._flatten_layers(include_self=False) if item.name == name]
    return found


def trained_model(make_layer, inputs, head=()):
    model = keras.Sequential([*head, make_layer(), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    targets = np.random.default_rng(1).normal(size=(len(inputs), 1)).astype("float32")
    model.fit(inputs, targets, epochs=1, verbose=0)
    return model


def stored_dtype(layer):
    weights = layer.kernel if isinstance(layer, keras.layers.Dense) else layer.embeddings
    return keras.backend.standardize_dtype(weights.dtype)


@pytest.mark.parametrize("mode", ["int8", "int4"])
@pytest.mark.parametrize("name", COMPOSITES)
def test_quantized_model_reloads_with_quantized_sublayers(name, mode, tmp_path):
    make_layer, kind, quantized = COMPOSITES[name]
    inputs = inputs_for(kind)
    model = trained_model(make_layer, inputs)
    float_outputs = model.predict(inputs, verbose=0)
    model.quantize(mode)
    reloaded = assert_saves_and_loads(model, inputs, tmp_path)
    layer = reloaded.layers[0]
    for sublayer_name in quantized:
        assert sublayer(layer, sublayer_name).quantization_mode == mode
        assert stored_dtype(sublayer(layer, sublayer_name)) == "int8"
    # Quantization changed the outputs (so the reload above compared quantized ones).
    assert not np.array_equal(reloaded.predict(inputs, verbose=0), float_outputs)


def test_reload_keeps_a_mixed_precision_quantized_policy(tmp_path):
    inputs = inputs_for("ids")
    # With an integer `Input`: a mixed `Sequential` would feed bfloat16 ids, which are refused.
    model = trained_model(
        lambda: HashEmbedding(64, 8, dtype="mixed_bfloat16"),
        inputs,
        head=[keras.Input((SEQUENCE,), dtype="int32")],
    )
    model.quantize("int8")
    reloaded = assert_saves_and_loads(model, inputs, tmp_path)
    buckets = reloaded.layers[0].buckets
    assert buckets.dtype_policy.name == "int8_from_mixed_bfloat16"
    assert reloaded.layers[0].dtype_policy.name == "mixed_bfloat16"


def test_reload_keeps_a_custom_int4_block_size(tmp_path):
    inputs = inputs_for("ids")
    model = trained_model(lambda: HashEmbedding(64, 8), inputs)
    model.quantize(config=keras.quantizers.Int4QuantizationConfig(block_size=4))
    reloaded = assert_saves_and_loads(model, inputs, tmp_path)
    assert reloaded.layers[0].buckets.quantization_config.block_size == 4


def test_masked_lm_head_dense_reloads_quantized(tmp_path):
    token_ids = keras.Input((SEQUENCE,), dtype="int32")
    mask_positions = keras.Input((None,), dtype="int32")
    embedding = ReversibleEmbedding(13, 8)
    logits = MaskedLMHead(token_embedding=embedding)(embedding(token_ids), mask_positions)
    model = keras.Model([token_ids, mask_positions], logits)
    inputs = [np.random.default_rng(0).integers(0, 13, size=(2, SEQUENCE)), np.array([[1, 2], [0, 4]])]
    model.quantize("int8")
    reloaded = assert_saves_and_loads(model, inputs, tmp_path)
    [head] = [layer for layer in reloaded.layers if isinstance(layer, MaskedLMHead)]
    assert head._intermediate_dense.quantization_mode == "int8"
    # The shared embedding is saved by the model, not recorded twice by the head.
    assert "quantized_sublayers" not in head.get_config() or "token_embedding" not in (
        head.get_config()["quantized_sublayers"]
    )
    assert head.token_embedding.quantization_mode == "int8"


def test_quantize_on_the_layer_quantizes_its_sublayers():
    layer = QREmbedding(60, 8, 7)
    ids = inputs_for("ids")
    before = to_numpy(layer(ids))
    layer.quantize("int8")
    assert layer.quotient.quantization_mode == "int8"
    assert layer.remainder.quantization_mode == "int8"
    after = to_numpy(layer(ids))
    # Absmax int8 rows of |w| <= 1/sqrt(rows): each factor is off by at most max|row| / 254.
    bound = 2 * (1 / np.sqrt(9)) * (1 / np.sqrt(7)) / 254 + 1e-6
    np.testing.assert_allclose(after, before, atol=bound)
    assert not np.array_equal(after, before)


def test_an_unbuilt_layer_from_a_quantized_config_keeps_the_record():
    layer = QREmbedding(60, 8, 7)
    layer.build()
    layer.quantize("int8")
    config = layer.get_config()
    assert set(config["quantized_sublayers"]) == {"quotient", "remainder"}
    clone = QREmbedding.from_config(config)
    assert clone.get_config() == config  # Before it is built, too.
    clone.build()
    assert clone.quotient.quantization_mode == "int8"
    assert clone.get_config() == config


def test_a_float_layer_records_nothing():
    assert "quantized_sublayers" not in HashEmbedding(64, 8).get_config()


def test_quantizing_twice_raises():
    layer = SubwordEmbedding(30, 30, 8)
    layer.build()
    layer.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")
