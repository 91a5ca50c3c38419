"""int8 / int4 quantisation of `ReversibleEmbedding` and its subclass.

The first half restates, in our words, every case of keras 3.15's own
`ReversibleEmbedding` quantisation tests; keras' layer itself serves as the
oracle for variable names, shapes, values and outputs. The second half covers
what keras does not: the padding mask, float32 reverse logits under mixed
precision, the loss refusing a quantised table, and the subclass.
"""

import math
import os

import keras
import numpy as np
import pytest
from embed_testing import compiled
from embed_testing import to_numpy
from keras.quantizers import AbsMaxQuantizer
from keras.quantizers import Int4QuantizationConfig
from keras.quantizers import Int8QuantizationConfig

from keras_embed.layers import MaskedLMHead
from keras_embed.layers import ReversibleEmbedding
from keras_embed.layers import SemiFrozenReversibleEmbedding

MODES = ["int8", "int4"]
TIES = [True, False]
# mode, config factory: keras' defaults and every int4 layout.
SCHEMES = {
    "int8": ("int8", lambda: None),
    "int8_weight_only": ("int8", lambda: Int8QuantizationConfig(activation_quantizer=None)),
    "int4_grouped_default": ("int4", lambda: None),
    "int4_per_channel": ("int4", lambda: Int4QuantizationConfig(block_size=None)),
    "int4_grouped_8": ("int4", lambda: Int4QuantizationConfig(block_size=8)),
    "int4_per_channel_activations": (
        "int4",
        lambda: Int4QuantizationConfig(block_size=-1, activation_quantizer=AbsMaxQuantizer(axis=-1)),
    ),
}


def built(input_dim=10, output_dim=16, **kwargs):
    layer = ReversibleEmbedding(input_dim, output_dim, **kwargs)
    layer.build()
    return layer


def quantized(layer, mode, config=None):
    if config is None:
        layer.quantize(mode)
    else:
        layer.quantize(mode, config=config)
    return layer


def mse(a, b):
    return float(np.mean(np.square(to_numpy(a) - to_numpy(b))))


def inputs_for(layer, rng, rows=8):
    ids = rng.integers(0, layer.input_dim, size=(rows, 3))
    hidden = rng.uniform(size=(rows, layer.output_dim)).astype("float32")
    return ids, hidden


def save_and_load(model, tmp_path, name="model.keras"):
    path = os.path.join(str(tmp_path), name)
    model.save(path)
    return keras.saving.load_model(path)


# --- keras as the oracle ------------------------------------------------------


@pytest.mark.parametrize("tie_weights", TIES)
@pytest.mark.parametrize("scheme", SCHEMES.values(), ids=SCHEMES.keys())
def test_quantised_variables_and_outputs_equal_keras_reversible_embedding(scheme, tie_weights, rng):
    mode, make_config = scheme
    ours = built(20, 24, tie_weights=tie_weights)
    oracle = keras.layers.ReversibleEmbedding(20, 24, tie_weights=tie_weights)
    oracle.build()
    for mine, theirs in zip(ours.weights, oracle.weights):
        theirs.assign(mine)
    quantized(ours, mode, make_config())
    quantized(oracle, mode, make_config())

    assert ours.dtype_policy.name == oracle.dtype_policy.name
    described = [(w.path.split("/")[-1], tuple(w.shape), w.dtype) for w in ours.weights]
    expected = [(w.path.split("/")[-1], tuple(w.shape), w.dtype) for w in oracle.weights]
    assert described == expected
    for mine, theirs in zip(ours.weights, oracle.weights):
        np.testing.assert_array_equal(to_numpy(mine), to_numpy(theirs))
    ids, hidden = inputs_for(ours, rng)
    np.testing.assert_allclose(to_numpy(ours(ids)), to_numpy(oracle(ids)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(ours(hidden, reverse=True)),
        to_numpy(oracle(hidden, reverse=True)),
        rtol=1e-5,
        atol=1e-5,
    )


# --- keras' own test cases, in our words ---------------------------------------


@pytest.mark.parametrize(
    "mode, weight_quantizer, activation_quantizer",
    [
        ("int8", AbsMaxQuantizer(axis=-1), AbsMaxQuantizer(axis=-1)),
        ("int4", AbsMaxQuantizer(axis=-1, value_range=(-8, 7), output_dtype="int8"),
         AbsMaxQuantizer(axis=-1)),
        ("int8", AbsMaxQuantizer(axis=-1), None),
    ],
    ids=["int8", "int4", "int8_weight_only"],
)
def test_config_quantizers_are_used_for_the_reverse_projection(
    mode, weight_quantizer, activation_quantizer
):
    if mode == "int8":
        config = Int8QuantizationConfig(weight_quantizer, activation_quantizer)
    else:
        config = Int4QuantizationConfig(weight_quantizer, activation_quantizer, block_size=None)
    layer = quantized(built(10, 6), mode, config)
    if activation_quantizer is None:
        assert layer.inputs_quantizer is None
    else:
        assert isinstance(layer.inputs_quantizer, AbsMaxQuantizer)
    logits = layer(np.random.default_rng(0).random((2, 6)).astype("float32"), reverse=True)
    assert tuple(logits.shape) == (2, 10)


@pytest.mark.parametrize("tie_weights", TIES)
@pytest.mark.parametrize("mode", MODES)
def test_quantised_outputs_stay_close_and_survive_saving(mode, tie_weights, rng, tmp_path):
    layer = built(10, 16, tie_weights=tie_weights)
    ids, hidden = inputs_for(layer, rng, rows=64)
    forward, reverse = layer(ids), layer(hidden, reverse=True)
    quantized(layer, mode)
    if not tie_weights:
        # int4 values travel packed in int8 bytes.
        assert keras.backend.standardize_dtype(layer.reverse_embeddings.dtype) == "int8"
        assert layer.reverse_embeddings_scale.dtype == layer.variable_dtype
    assert mse(forward, layer(ids)) < 1e-3
    assert mse(reverse, layer(hidden, reverse=True)) < 1e-3

    model = keras.Sequential([layer])
    expected = model.predict(ids, verbose=0)
    np.testing.assert_allclose(save_and_load(model, tmp_path).predict(ids, verbose=0), expected)

    path = os.path.join(str(tmp_path), "quantized.weights.h5")
    model.save_weights(path)
    fresh = keras.Sequential([ReversibleEmbedding(10, 16, tie_weights=tie_weights)])
    fresh.build((None, 3))
    fresh.quantize(mode)
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.predict(ids, verbose=0), expected)


@pytest.mark.parametrize(
    "dtype, tie_weights, non_trainable",
    [
        ("int8_from_mixed_bfloat16", True, 2),
        ("int8_from_mixed_bfloat16", False, 4),
        ("int4_from_mixed_bfloat16", True, 2),
        ("int4_from_mixed_bfloat16", False, 4),
    ],
)
def test_quantized_dtype_policy_builds_quantised_variables(dtype, tie_weights, non_trainable, tmp_path):
    layer = ReversibleEmbedding(
        100, 32, tie_weights=tie_weights, embeddings_initializer="he_normal", dtype=dtype
    )
    ids = np.random.default_rng(0).integers(0, 100, size=(4, 10))
    outputs = layer(ids)
    assert tuple(outputs.shape) == (4, 10, 32)
    assert len(layer.trainable_weights) == 0
    assert len(layer.non_trainable_weights) == non_trainable
    assert len(layer.non_trainable_variables) == non_trainable
    # Integer ids: a Sequential without Input would build on bfloat16 here.
    model = keras.Sequential([keras.Input(shape=(10,), dtype="int32"), layer])
    reloaded = save_and_load(model, tmp_path)
    np.testing.assert_allclose(
        reloaded.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=0, atol=0
    )


def test_custom_weight_quantizer_survives_get_config():
    config = Int8QuantizationConfig(weight_quantizer=AbsMaxQuantizer(axis=-1, value_range=(-20, 20)))
    layer = quantized(built(100, 16), "int8", config)
    clone = ReversibleEmbedding.from_config(layer.get_config())
    assert isinstance(clone.quantization_config, Int8QuantizationConfig)
    quantizer = clone.quantization_config.weight_quantizer
    assert isinstance(quantizer, AbsMaxQuantizer)
    assert tuple(quantizer.value_range) == (-20, 20)


def test_custom_weight_quantizer_sets_the_stored_range():
    # value_range (-20, 20): the largest |w| of each row maps to 20, not 127.
    config = Int8QuantizationConfig(weight_quantizer=AbsMaxQuantizer(axis=-1, value_range=(-20, 20)))
    layer = quantized(built(100, 16), "int8", config)
    assert np.abs(to_numpy(layer._embeddings)).max(axis=-1).tolist() == [20] * 100


@pytest.mark.parametrize("tie_weights", TIES)
@pytest.mark.parametrize("block_size", [16, 48, None, -1])
def test_int4_block_size_sets_scale_shapes_and_keeps_outputs_close(block_size, tie_weights, rng):
    input_dim, output_dim = 40, 64  # 48 leaves a short last group
    layer = built(input_dim, output_dim, tie_weights=tie_weights)
    ids = rng.integers(0, input_dim, size=(4, 8))
    hidden = rng.random((4, output_dim)).astype("float32")
    forward, reverse = layer(ids), layer(hidden, reverse=True)
    quantized(layer, "int4", Int4QuantizationConfig(block_size=block_size))

    assert layer._int4_block_size == block_size
    grouped = block_size not in (None, -1)
    groups = math.ceil(output_dim / block_size) if grouped else None
    assert tuple(layer.embeddings_scale.shape) == ((input_dim, groups) if grouped else (input_dim,))
    if not tie_weights:
        expected = (groups, input_dim) if grouped else (input_dim,)
        assert tuple(layer.reverse_embeddings_scale.shape) == expected
        assert hasattr(layer, "reverse_embeddings_zero") == grouped
        if grouped:
            assert tuple(layer.reverse_embeddings_zero.shape) == expected
    assert mse(forward, layer(ids)) < 1e-3
    assert mse(reverse, layer(hidden, reverse=True)) < 1e-2


@pytest.mark.parametrize("tie_weights", TIES)
@pytest.mark.parametrize("block_size", [8, 32, None])
def test_int4_block_size_survives_saving(block_size, tie_weights, tmp_path):
    layer = quantized(
        built(20, 32, tie_weights=tie_weights), "int4", Int4QuantizationConfig(block_size=block_size)
    )
    ids = np.random.default_rng(0).integers(0, 20, size=(2, 8))
    before = to_numpy(layer(ids))
    reloaded = save_and_load(keras.Sequential([layer]), tmp_path).layers[0]
    assert isinstance(reloaded.quantization_config, Int4QuantizationConfig)
    assert reloaded.quantization_config.block_size == block_size
    if not tie_weights and block_size is not None:
        np.testing.assert_array_equal(
            to_numpy(reloaded.reverse_embeddings_zero), to_numpy(layer.reverse_embeddings_zero)
        )
    np.testing.assert_array_equal(to_numpy(reloaded(ids)), before)


@pytest.mark.parametrize("block_size", [4, 8])
def test_grouped_int4_maps_every_feature_to_its_group(block_size):
    layer = quantized(built(10, 16), "int4", Int4QuantizationConfig(block_size=block_size))
    assert tuple(layer.g_idx.shape) == (16,)
    np.testing.assert_array_equal(to_numpy(layer.g_idx), np.arange(16) // block_size)


def test_per_channel_int4_has_no_group_index():
    layer = quantized(built(10, 16), "int4", Int4QuantizationConfig(block_size=None))
    assert not hasattr(layer, "g_idx")


def test_group_index_survives_saving(tmp_path):
    layer = quantized(built(10, 16), "int4", Int4QuantizationConfig(block_size=8))
    ids = np.array([[1, 2, 3], [4, 5, 6]], "int32")
    before = to_numpy(layer(ids))
    reloaded = save_and_load(keras.Sequential([layer]), tmp_path).layers[0]
    np.testing.assert_array_equal(to_numpy(reloaded.g_idx), np.arange(16) // 8)
    np.testing.assert_array_equal(to_numpy(reloaded(ids)), before)


# --- beyond keras -----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_quantised_layer_keeps_the_padding_mask(mode):
    layer = quantized(built(10, 16, mask_zero=True), mode)
    outputs = layer(np.array([[2, 1, 0]]))
    mask = keras.src.backend.get_keras_mask(outputs)
    np.testing.assert_array_equal(to_numpy(mask), [[True, True, False]])
    assert keras.src.backend.get_keras_mask(layer(np.ones((1, 16), "float32"), reverse=True)) is None


@pytest.mark.parametrize("mode", MODES)
def test_quantised_reverse_logits_are_float32_under_mixed_precision(mode):
    layer = ReversibleEmbedding(10, 16, dtype="mixed_bfloat16")
    layer.build()
    float_logits = to_numpy(layer(np.ones((2, 16), "float32"), reverse=True))
    quantized(layer, mode)
    logits = layer(np.ones((2, 16), "float32"), reverse=True)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert keras.backend.standardize_dtype(layer(np.array([[1]])).dtype) == "bfloat16"
    assert mse(float_logits, logits) < 1e-2


@pytest.mark.parametrize("mode", MODES)
def test_reverse_loss_refuses_a_quantised_table(mode):
    layer = quantized(built(10, 16), mode)
    with pytest.raises(ValueError, match=rf"needs a float table.*quantised \({mode}\)"):
        layer.reverse_loss(np.ones((2, 16), "float32"), np.array([1, 2]))


def test_masked_lm_head_compute_loss_refuses_a_quantised_embedding():
    embedding = built(10, 16)
    head = MaskedLMHead(token_embedding=embedding)
    hidden = np.ones((1, 4, 16), "float32")
    head(hidden, np.array([[1, 2]]))
    quantized(embedding, "int8")
    assert tuple(head(hidden, np.array([[1, 2]])).shape) == (1, 2, 10)
    with pytest.raises(ValueError, match="needs a float table"):
        head.compute_loss(hidden, np.array([[1, 2]]), np.array([[3, 4]]))


@pytest.mark.parametrize("mode", MODES)
def test_quantised_lookup_rejects_out_of_range_ids_eagerly_and_zeroes_them_compiled(mode):
    layer = quantized(built(10, 16), mode)
    with pytest.raises(ValueError, match="outside the valid range"):
        layer(np.array([[10]]))
    embedded = to_numpy(compiled(lambda ids: layer(ids))(np.array([[10, -1, 3]], "int32")))
    np.testing.assert_array_equal(embedded[0, :2], 0.0)
    np.testing.assert_array_equal(embedded[0, 2], to_numpy(layer(np.array([3])))[0])


def test_model_quantize_reaches_the_layer_in_a_sequential_without_input():
    model = keras.Sequential(
        [ReversibleEmbedding(10, 8), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    )
    ids = np.random.default_rng(0).integers(0, 10, size=(4, 5))
    before = model.predict(ids, verbose=0)
    model.quantize("int8")
    assert model.layers[0].quantization_mode == "int8"
    np.testing.assert_allclose(model.predict(ids, verbose=0), before, atol=0.05)


@pytest.mark.parametrize("tie_weights", TIES)
@pytest.mark.parametrize("mode", MODES)
def test_semi_frozen_layer_quantises_its_merged_table(mode, tie_weights, tmp_path):
    table = np.random.default_rng(0).normal(size=(10, 16)).astype("float32")
    layer = SemiFrozenReversibleEmbedding(10, 16, num_trainable_rows=2, tie_weights=tie_weights)
    layer.build()
    layer.assign_table(table, trainable_row_ids=[3, 5])
    layer.trainable_embeddings.assign(np.ones((2, 16), "float32"))  # trained rows
    oracle = built(10, 16, tie_weights=tie_weights)
    oracle.embeddings.assign(to_numpy(layer.embeddings))
    if not tie_weights:
        oracle.reverse_embeddings.assign(to_numpy(layer.reverse_embeddings))
    quantized(layer, mode)
    quantized(oracle, mode)

    assert not hasattr(layer, "row_slots") and not hasattr(layer, "trainable_embeddings")
    ids = np.array([[3, 5, 1, 0]])
    np.testing.assert_array_equal(to_numpy(layer(ids)), to_numpy(oracle(ids)))
    hidden = np.ones((1, 16), "float32")
    np.testing.assert_array_equal(
        to_numpy(layer(hidden, reverse=True)), to_numpy(oracle(hidden, reverse=True))
    )
    if mode == "int4" and not tie_weights:  # the layout with every variable
        model = keras.Sequential([layer])
        reloaded = save_and_load(model, tmp_path)
        np.testing.assert_array_equal(reloaded.predict(ids, verbose=0), model.predict(ids, verbose=0))


@pytest.mark.parametrize("mode", MODES)
def test_lora_on_a_quantised_table_adds_its_update_forward_and_reverse(mode):
    # QLoRA: frozen quantised table, trainable low-rank update a @ b, tied both ways.
    layer = quantized(built(10, 16), mode, Int4QuantizationConfig(block_size=None) if mode == "int4" else None)
    ids, hidden = np.array([[1, 4, 7]]), np.ones((1, 16), "float32")
    base_rows, base_logits = to_numpy(layer(ids)), to_numpy(layer(hidden, reverse=True))
    layer.enable_lora(2)
    layer.lora_embeddings_b.assign(np.full((2, 16), 0.5, "float32"))
    update = to_numpy(layer.lora_embeddings_a) @ to_numpy(layer.lora_embeddings_b)  # (10, 16)
    np.testing.assert_allclose(to_numpy(layer(ids)), base_rows + update[ids], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(layer(hidden, reverse=True)), base_logits + hidden @ update.T, rtol=1e-4, atol=1e-4
    )
