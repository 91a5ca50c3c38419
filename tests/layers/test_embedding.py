import math

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import backend
from embed_testing import compiled
from embed_testing import to_numpy
from table_oracles import keras_sgd_step
from table_oracles import torch_forward
from table_oracles import torch_module
from table_oracles import torch_sgd_step

from keras_embed.layers import Embedding

ROWS, WIDTH = 13, 6


def built(**kwargs):
    layer = Embedding(ROWS, WIDTH, **kwargs)
    layer.build()
    return layer


def random_table(rng, scale=1.0):
    return (scale * rng.normal(size=(ROWS, WIDTH))).astype("float32")


def with_table(table, **kwargs):
    layer = built(**kwargs)
    layer.embeddings.assign(table)
    return layer


# Drop-in for keras.layers.Embedding.


def test_forward_equals_keras_embedding_with_the_same_table(rng):
    ours, theirs = built(), keras.layers.Embedding(ROWS, WIDTH)
    theirs.build()
    theirs.embeddings.assign(to_numpy(ours.embeddings))
    ids = rng.integers(0, ROWS, size=(3, 5))
    np.testing.assert_array_equal(to_numpy(ours(ids)), to_numpy(theirs(ids)))


def test_config_holds_every_keras_embedding_key_with_its_default():
    ours, theirs = Embedding(ROWS, WIDTH).get_config(), keras.layers.Embedding(ROWS, WIDTH).get_config()
    for key, value in theirs.items():
        if key != "name":
            assert ours[key] == value, key
    assert Embedding(ROWS, WIDTH).build() is None
    assert [w.name for w in built().weights] == ["embeddings"]


def test_same_initial_table_as_keras_embedding_under_the_same_seed():
    keras.utils.set_random_seed(7)
    ours = built()
    keras.utils.set_random_seed(7)
    theirs = keras.layers.Embedding(ROWS, WIDTH)
    theirs.build()
    np.testing.assert_array_equal(to_numpy(ours.embeddings), to_numpy(theirs.embeddings))


def test_forward_equals_torch_embedding(rng):
    table = random_table(rng)
    ids = rng.integers(0, ROWS, size=(4, 7))
    expected = torch_forward(torch_module("embedding", table), ids)
    np.testing.assert_array_equal(to_numpy(with_table(table)(ids)), expected)


def test_mask_zero_masks_id_zero_only(rng):
    layer = built(mask_zero=True, padding_idx=3)
    ids = np.array([[0, 3, 5]])
    np.testing.assert_array_equal(to_numpy(layer.compute_mask(ids)), [[False, True, True]])


def test_works_in_sequential_without_input_and_fits(rng):
    # Sequential traces on a float32 placeholder: float ids are cast to int32.
    model = keras.Sequential(
        [Embedding(ROWS, WIDTH, padding_idx=0), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    )
    x = rng.integers(0, ROWS, size=(8, 5))
    assert_fit_step_changes_weights(model, x, np.zeros((8, 1), "float32"))


def test_integral_float_ids_are_cast_like_keras(rng):
    layer = built()
    ids = rng.integers(0, ROWS, size=(2, 3))
    np.testing.assert_array_equal(to_numpy(layer(ids.astype("float32"))), to_numpy(layer(ids)))


def test_float_ids_with_a_fraction_raise():
    with pytest.raises(ValueError, match="integer ids"):
        built()(np.array([[1.5, 2.0]], "float32"))


@pytest.mark.parametrize("bad_id", [-1, ROWS])
def test_out_of_range_ids_raise_naming_the_id(bad_id):
    with pytest.raises(ValueError, match=f"holds {bad_id} .*input_dim={ROWS}"):
        built()(np.array([[1, bad_id]]))


def test_out_of_range_ids_embed_to_zeros_inside_compiled_functions(rng):
    layer = with_table(random_table(rng), max_norm=0.5)
    outputs = to_numpy(compiled(lambda ids: layer(ids))(keras.ops.convert_to_tensor(np.array([[-1, 2, ROWS]]))))
    np.testing.assert_array_equal(outputs[0, [0, 2]], 0.0)
    assert np.all(np.isfinite(outputs))


def test_dtype_policies(dtype_policy, rng):
    layer = built(embeddings_scale="sqrt")
    assert keras.backend.standardize_dtype(layer.embeddings.dtype) == "float32"
    outputs = layer(rng.integers(0, ROWS, size=(2, 3)))
    expected = "bfloat16" if dtype_policy == "mixed_bfloat16" else "float32"
    assert keras.backend.standardize_dtype(outputs.dtype) == expected


def test_config_round_trip():
    assert_config_round_trip(
        Embedding(
            ROWS, WIDTH, padding_idx=-2, max_norm=1.5, norm_type=1.0,
            scale_grad_by_freq=True, embeddings_scale="sqrt", mask_zero=True,
        )
    )


def test_saves_and_loads_as_keras_file(tmp_path, rng):
    ids = keras.Input((4,), dtype="int32")
    model = keras.Model(ids, Embedding(ROWS, WIDTH, padding_idx=1, max_norm=2.0, embeddings_scale=3.0)(ids))
    reloaded = assert_saves_and_loads(model, rng.integers(0, ROWS, size=(3, 4)), tmp_path)
    assert reloaded.layers[-1].get_config()["padding_idx"] == 1


def test_compute_output_shape_mirrors_call(rng):
    layer = built()
    assert layer.compute_output_shape((2, 3)) == tuple(layer(rng.integers(0, ROWS, size=(2, 3))).shape)


# padding_idx


def test_padding_row_starts_at_zero_and_negative_index_counts_from_the_end():
    layer = built(padding_idx=-1)
    assert layer.padding_idx == ROWS - 1
    np.testing.assert_array_equal(to_numpy(layer.embeddings)[ROWS - 1], 0.0)
    assert np.all(np.abs(to_numpy(layer.embeddings)[: ROWS - 1]).sum(axis=1) > 0)


def test_padding_positions_embed_to_zeros_even_if_the_row_was_set(rng):
    layer = with_table(random_table(rng) + 1, padding_idx=4)
    outputs = to_numpy(layer(np.array([[4, 5, 4]])))
    np.testing.assert_array_equal(outputs[0, [0, 2]], 0.0)
    assert np.all(outputs[0, 1] != 0)


def test_table_after_one_sgd_step_matches_torch_with_padding_idx(rng):
    table = random_table(rng)
    table[2] = 0.0
    ids = np.array([[2, 5, 2, 7], [1, 2, 5, 5]])
    targets = rng.normal(size=(2, 4, WIDTH)).astype("float32")
    expected = torch_sgd_step(torch_module("embedding", table, padding_idx=2), ids, targets, 5.0)
    actual = keras_sgd_step(with_table(table, padding_idx=2), ids, targets, 5.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(actual[2], 0.0)


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.SGD(0.5, momentum=0.9),
        lambda: keras.optimizers.AdamW(0.1, weight_decay=0.5),
        lambda: keras.optimizers.RMSprop(0.1),
    ],
    ids=["sgd_momentum", "adamw", "rmsprop"],
)
def test_padding_row_stays_exactly_zero_through_fit(optimizer, rng):
    layer = Embedding(ROWS, WIDTH, padding_idx=0, embeddings_regularizer="l2")
    ids = keras.Input((6,), dtype="int32")
    model = keras.Model(ids, keras.layers.Dense(1)(keras.layers.Flatten()(layer(ids))))
    model.compile(optimizer=optimizer(), loss="mse")
    x = rng.integers(0, 3, size=(32, 6))  # id 0 in most rows
    model.fit(x, rng.normal(size=(32, 1)), batch_size=8, epochs=2, verbose=0)
    table = to_numpy(layer.embeddings)
    np.testing.assert_array_equal(table[0], 0.0)
    assert not np.allclose(table[1], 0.0)


# max_norm / norm_type


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_max_norm_output_and_renormalised_table_match_torch(norm_type, rng):
    table = random_table(rng)
    ids = np.array([[1, 4, 4, 9], [0, 1, 12, 3]])
    oracle = torch_module("embedding", table, max_norm=0.8, norm_type=norm_type)
    expected = torch_forward(oracle, ids)
    layer = with_table(table, max_norm=0.8, norm_type=norm_type)
    np.testing.assert_allclose(to_numpy(layer(ids)), expected, rtol=1e-6, atol=1e-7)
    # torch renormalises the looked-up rows of its table in place; so do we.
    np.testing.assert_allclose(to_numpy(layer.embeddings), oracle.weight.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_max_norm_leaves_short_rows_and_unused_rows_alone(rng):
    table = random_table(rng, scale=0.01)
    table[5] *= 1000
    layer = with_table(table, max_norm=1.0)
    layer(np.array([[5, 6]]))
    after = to_numpy(layer.embeddings)
    np.testing.assert_array_equal(np.delete(after, 5, axis=0), np.delete(table, 5, axis=0))
    # torch's rule: norm' = max_norm * norm / (norm + 1e-7), just below max_norm.
    norm = np.linalg.norm(table[5].astype("float64"))
    np.testing.assert_allclose(np.linalg.norm(after[5]), norm / (norm + 1e-7), rtol=1e-6)


def test_table_after_one_sgd_step_with_max_norm(rng):
    table = random_table(rng)
    ids = np.array([[2, 5, 2, 7], [1, 2, 5, 5]])
    targets = rng.normal(size=(2, 4, WIDTH)).astype("float32")
    torch_table = torch_sgd_step(torch_module("embedding", table, max_norm=0.5), ids, targets, 5.0)
    actual = keras_sgd_step(with_table(table, max_norm=0.5), ids, targets, 5.0)
    if backend() != "jax":
        np.testing.assert_allclose(actual, torch_table, rtol=1e-5, atol=1e-6)
        return
    # Documented: a JAX training step cannot write the trainable table from the
    # forward pass, so it holds w - lr * g where torch holds renorm(w) - lr * g.
    renormalized = torch_module("embedding", table, max_norm=0.5)
    torch_forward(renormalized, ids)
    step = renormalized.weight.detach().numpy() - torch_table
    np.testing.assert_allclose(actual, table - step, rtol=1e-5, atol=1e-6)


# scale_grad_by_freq


@pytest.mark.parametrize("padding_idx", [None, 5])
def test_table_after_one_sgd_step_matches_torch_with_scale_grad_by_freq(padding_idx, rng):
    table = random_table(rng)
    if padding_idx is not None:
        table[padding_idx] = 0.0
    ids = np.array([[2, 5, 2, 7], [1, 2, 5, 5], [2, 2, 2, 0]])
    targets = rng.normal(size=(3, 4, WIDTH)).astype("float32")
    options = dict(scale_grad_by_freq=True, padding_idx=padding_idx)
    expected = torch_sgd_step(torch_module("embedding", table, **options), ids, targets, 5.0)
    actual = keras_sgd_step(with_table(table, **options), ids, targets, 5.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


# embeddings_scale


@pytest.mark.parametrize("scale, factor", [("sqrt", math.sqrt(WIDTH)), (2.5, 2.5)])
def test_embeddings_scale_multiplies_the_output(scale, factor, rng):
    table = random_table(rng)
    ids = rng.integers(0, ROWS, size=(2, 3))
    outputs = to_numpy(with_table(table, embeddings_scale=scale)(ids))
    np.testing.assert_allclose(outputs, table[ids] * np.float32(factor), rtol=1e-6)


def test_embeddings_scale_is_applied_in_float32_and_cast_once(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    table = random_table(rng)
    ids = rng.integers(0, ROWS, size=(2, 3))
    outputs = with_table(table, embeddings_scale="sqrt")(ids)
    # One rounding of the float32 product, not a product of bfloat16 roundings.
    expected = keras.ops.cast(keras.ops.convert_to_tensor(table[ids] * np.float32(math.sqrt(WIDTH))), "bfloat16")
    np.testing.assert_array_equal(to_numpy(keras.ops.cast(outputs, "float32")), to_numpy(keras.ops.cast(expected, "float32")))


# from_pretrained


def test_from_pretrained_holds_the_matrix_and_is_frozen(rng):
    table = random_table(rng)
    layer = Embedding.from_pretrained(table)
    assert not layer.trainable and layer.trainable_weights == []
    np.testing.assert_array_equal(to_numpy(layer.embeddings), table)
    np.testing.assert_array_equal(to_numpy(layer(np.array([3, 1]))), table[[3, 1]])


def test_from_pretrained_unfrozen_trains_and_zeroes_the_padding_row(rng):
    table = random_table(rng)
    layer = Embedding.from_pretrained(table, freeze=False, padding_idx=2)
    assert len(layer.trainable_weights) == 1
    np.testing.assert_array_equal(to_numpy(layer.embeddings)[2], 0.0)


def test_from_pretrained_rejects_a_matrix_that_is_not_2d():
    with pytest.raises(ValueError, match=r"`matrix` must be a non-empty 2-D array.*\(4,\)"):
        Embedding.from_pretrained(np.zeros(4))


# Quantization and LoRA


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_table_keeps_padding_and_scale(mode, rng):
    table = random_table(rng)
    layer = with_table(table, padding_idx=1, embeddings_scale=2.0)
    layer.quantize(mode)
    assert layer.quantization_mode == mode
    outputs = to_numpy(layer(np.array([[1, 3]])))
    np.testing.assert_array_equal(outputs[0, 0], 0.0)
    tolerance = 0.02 if mode == "int8" else 0.3
    np.testing.assert_allclose(outputs[0, 1], 2.0 * table[3], atol=tolerance * np.abs(table[3]).max() * 2)


def test_quantized_model_saves_and_loads(tmp_path, rng):
    ids = keras.Input((3,), dtype="int32")
    model = keras.Model(ids, Embedding(ROWS, WIDTH, padding_idx=0)(ids))
    model.quantize("int8")
    assert_saves_and_loads(model, rng.integers(0, ROWS, size=(2, 3)), tmp_path)


def test_lora_trains_only_the_adapters_and_keeps_padding_zero(rng):
    layer = built(padding_idx=0)
    layer.enable_lora(2)
    layer.lora_embeddings_b.assign(np.ones((2, WIDTH), "float32"))
    assert [w.name for w in layer.trainable_weights] == ["lora_embeddings_a", "lora_embeddings_b"]
    outputs = to_numpy(layer(np.array([[0, 4]])))
    np.testing.assert_array_equal(outputs[0, 0], 0.0)
    np.testing.assert_allclose(outputs[0, 1], to_numpy(layer.embeddings)[4], rtol=1e-6)


# Bad arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(padding_idx=ROWS), rf"`padding_idx` must be an integer in \[-{ROWS}, {ROWS}\).*padding_idx={ROWS}"),
        (dict(padding_idx=-ROWS - 1), "padding_idx=-14"),
        (dict(padding_idx=1.0), r"padding_idx=1\.0 \(of type float\)"),
        (dict(max_norm=0.0), r"`max_norm` must be a positive number or None. Received: max_norm=0\.0"),
        (dict(max_norm=-1), "max_norm=-1"),
        (dict(norm_type=0), "`norm_type` must be a positive number"),
        (dict(scale_grad_by_freq="yes"), "`scale_grad_by_freq` must be True or False"),
        (dict(embeddings_scale="log"), r"`embeddings_scale` must be None, 'sqrt' or a positive number.*'log'"),
        (dict(embeddings_scale=0), "embeddings_scale=0"),
        (dict(sparse="yes"), "`sparse` must be True or False"),
        (dict(sparse=True, embeddings_regularizer="l2"), "`embeddings_regularizer` acts on every row.*sparse=True"),
        (dict(sparse=True, sparse_capacity=0), "`sparse_capacity` must be a positive integer"),
    ],
)
def test_bad_arguments_raise_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Embedding(ROWS, WIDTH, **kwargs)


def test_bad_sizes_raise_naming_the_value():
    with pytest.raises(ValueError, match="`input_dim` must be a positive integer. Received: input_dim=0"):
        Embedding(0, WIDTH)


@pytest.mark.skipif(backend() == "torch", reason="jit_compile=True means XLA on JAX and TensorFlow")
def test_fit_under_jit_compile_with_every_table_rule(rng):
    layer = Embedding(ROWS, WIDTH, padding_idx=0, max_norm=0.01, scale_grad_by_freq=True, embeddings_scale="sqrt")
    model = keras.Sequential([keras.Input((4,), dtype="int32"), layer, keras.layers.Flatten(), keras.layers.Dense(1)])
    assert_fit_step_changes_weights(model, rng.integers(0, ROWS, size=(8, 4)), np.ones((8, 1), "float32"), jit_compile=True)
    np.testing.assert_array_equal(to_numpy(layer.embeddings)[0], 0.0)


def test_max_norm_inside_a_compiled_call_leaves_the_variable_usable(rng):
    # On JAX a write from inside a user's jax.jit would leak a tracer; it is skipped there.
    table = random_table(rng)
    layer = with_table(table, max_norm=0.5)
    ids = keras.ops.convert_to_tensor(np.array([[1, 2]]))
    compiled(lambda ids: layer(ids))(ids)
    np.testing.assert_allclose(to_numpy(layer(ids)), torch_forward(torch_module("embedding", table, max_norm=0.5), [[1, 2]]), rtol=1e-6)


def test_frozen_table_is_renormalised_by_a_fit_step(rng):
    table = random_table(rng)
    layer = Embedding.from_pretrained(table, max_norm=0.5)
    ids = keras.Input((2,), dtype="int32")
    model = keras.Model(ids, keras.layers.Dense(1)(keras.layers.Flatten()(layer(ids))))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.array([[1, 2]]), np.ones((1, 1)), verbose=0)
    oracle = torch_module("embedding", table, max_norm=0.5)
    torch_forward(oracle, [[1, 2]])
    np.testing.assert_allclose(to_numpy(layer.embeddings), oracle.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
