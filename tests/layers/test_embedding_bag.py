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
from table_oracles import torch_bag_via_embedding
from table_oracles import torch_forward
from table_oracles import torch_module
from table_oracles import torch_sgd_step

from keras_embed.layers import EmbeddingBag

ROWS, WIDTH = 17, 5
TORCH_COMBINERS = ("sum", "mean", "max")


def bag_layer(table, **kwargs):
    layer = EmbeddingBag(*table.shape, **kwargs)
    layer.build()
    layer.embeddings.assign(table)
    return layer


@pytest.fixture
def table(rng):
    return rng.normal(size=(ROWS, WIDTH)).astype("float32")


def close(actual, expected):
    np.testing.assert_allclose(to_numpy(actual), expected, rtol=1e-5, atol=1e-6)


def sqrtn_reference(table, ids, weights, keep):
    """TF's safe_embedding_lookup_sparse rule: sum w x / sqrt(sum w^2), written per bag."""
    out = np.zeros((len(ids), table.shape[1]))
    for b, (bag, w, k) in enumerate(zip(ids, weights, keep)):
        w = np.where(k, w, 0.0)
        norm = np.sqrt((w**2).sum())
        out[b] = (w[:, None] * table[bag]).sum(0) / norm if norm else 0.0
    return out


# Padded 2-D bags


@pytest.mark.parametrize("combiner", TORCH_COMBINERS)
def test_padded_bags_match_torch(combiner, table, rng):
    ids = rng.integers(0, ROWS, size=(6, 4))
    expected = torch_forward(torch_module("bag", table, mode=combiner), ids)
    close(bag_layer(table, combiner=combiner)(ids), expected)


@pytest.mark.parametrize("combiner", TORCH_COMBINERS)
def test_padded_bags_leave_out_padding_idx_like_torch(combiner, table):
    table[3] = 0.0
    ids = np.array([[3, 1, 2, 3], [3, 3, 3, 3], [4, 3, 9, 9]])
    expected = torch_forward(torch_module("bag", table, mode=combiner, padding_idx=3), ids)
    outputs = bag_layer(table, combiner=combiner, padding_idx=3)(ids)
    close(outputs, expected)
    np.testing.assert_array_equal(to_numpy(outputs)[1], 0.0)  # a bag of padding only is empty


def test_sqrtn_divides_the_sum_by_the_root_of_the_count(table, rng):
    ids = rng.integers(0, ROWS, size=(4, 3))
    expected = table[ids].sum(axis=1) / np.sqrt(3)
    close(bag_layer(table, combiner="sqrtn")(ids), expected)


def test_masked_positions_are_left_out_of_their_bag(table):
    # mask_zero=True leaves id 0 out, as an upstream Keras mask would.
    ids = np.array([[5, 0, 0], [6, 7, 0]])
    outputs = bag_layer(table, combiner="mean", mask_zero=True)(ids)
    close(outputs, np.stack([table[5], (table[6] + table[7]) / 2]))


def test_keras_mask_from_upstream_layer_is_honoured(table):
    ids = np.array([[5, 9, 9], [6, 7, 9]])
    mask = np.array([[True, False, False], [True, True, False]])
    close(bag_layer(table, combiner="sum")(ids, mask=mask), np.stack([table[5], table[6] + table[7]]))


def test_per_sample_weights_with_sum_match_torch(table, rng):
    ids = rng.integers(0, ROWS, size=(5, 3))
    weights = rng.uniform(0.1, 2.0, size=(5, 3)).astype("float32")
    expected = torch_forward(torch_module("bag", table, mode="sum"), ids, per_sample_weights=weights)
    close(bag_layer(table, combiner="sum")(ids, per_sample_weights=weights), expected)


def test_per_sample_weights_with_mean_give_the_weighted_mean(table, rng):
    ids = rng.integers(0, ROWS, size=(5, 3))
    weights = rng.uniform(0.1, 2.0, size=(5, 3)).astype("float32")
    expected = (weights[..., None] * table[ids]).sum(1) / weights.sum(1, keepdims=True)
    close(bag_layer(table, combiner="mean")(ids, per_sample_weights=weights), expected)


def test_per_sample_weights_with_sqrtn_follow_tensorflow(table, rng):
    ids = rng.integers(0, ROWS, size=(5, 3))
    ids[0, 1] = 2  # padding, left out
    weights = rng.uniform(0.1, 2.0, size=(5, 3)).astype("float32")
    expected = sqrtn_reference(table, ids, weights, ids != 2)
    close(bag_layer(table, combiner="sqrtn", padding_idx=2)(ids, per_sample_weights=weights), expected)


# 1-D ids with offsets


@pytest.mark.parametrize("combiner", TORCH_COMBINERS)
@pytest.mark.parametrize("include_last_offset", [False, True])
def test_offsets_form_matches_torch(combiner, include_last_offset, table):
    ids = np.array([1, 2, 4, 5, 4, 3, 2, 9, 16, 0])
    offsets = np.array([0, 2, 2, 5, 9] + ([10] if include_last_offset else []))  # bag 1 is empty
    options = dict(mode=combiner, include_last_offset=include_last_offset)
    expected = torch_forward(torch_module("bag", table, **options), ids, offsets=offsets)
    layer = bag_layer(table, combiner=combiner, include_last_offset=include_last_offset)
    outputs = layer(ids, offsets=offsets)
    close(outputs, expected)
    np.testing.assert_array_equal(to_numpy(outputs)[1], 0.0)


def test_offsets_form_with_padding_and_weights_matches_torch(table, rng):
    table[4] = 0.0
    ids = np.array([1, 4, 4, 5, 4, 3])
    offsets = np.array([0, 3])
    weights = rng.uniform(0.1, 2.0, size=6).astype("float32")
    oracle = torch_module("bag", table, mode="sum", padding_idx=4)
    expected = torch_forward(oracle, ids, offsets=offsets, per_sample_weights=weights)
    close(bag_layer(table, combiner="sum", padding_idx=4)(ids, offsets=offsets, per_sample_weights=weights), expected)


def test_ids_after_the_last_offset_belong_to_no_bag(table):
    layer = bag_layer(table, combiner="mean", include_last_offset=True)
    close(layer(np.array([1, 2, 3]), offsets=np.array([0, 2])), [(table[1] + table[2]) / 2])


@pytest.mark.skipif(backend() != "tensorflow", reason="tf.RaggedTensor is TensorFlow's")
def test_ragged_ids_equal_the_offsets_form(table):
    import tensorflow as tf

    ragged = tf.ragged.constant([[1, 2], [], [4, 5, 4]], dtype=tf.int32)
    weights = tf.ragged.constant([[1.0, 2.0], [], [0.5, 1.0, 1.0]])
    layer = bag_layer(table, combiner="mean")
    expected = np.stack([(table[1] + 2 * table[2]) / 3, np.zeros(WIDTH), (0.5 * table[4] + table[5] + table[4]) / 2.5])
    close(layer(ragged, per_sample_weights=weights), expected)


# max_norm and training


@pytest.mark.parametrize("combiner", TORCH_COMBINERS)
def test_max_norm_matches_torch(combiner, table, rng):
    ids = rng.integers(0, ROWS, size=(4, 3))
    oracle = torch_module("bag", table, mode=combiner, max_norm=1.0)
    expected = torch_forward(oracle, ids)
    layer = bag_layer(table, combiner=combiner, max_norm=1.0)
    close(layer(ids), expected)
    close(layer.embeddings, oracle.weight.detach().numpy())


@pytest.mark.parametrize("combiner", ["sum", "mean"])
@pytest.mark.parametrize("options", [dict(scale_grad_by_freq=True), dict(padding_idx=2), dict(scale_grad_by_freq=True, padding_idx=2)])
def test_table_after_one_sgd_step_matches_torch(combiner, options, table, rng):
    if "padding_idx" in options:
        table[2] = 0.0
    ids = np.array([[2, 5, 2, 7], [1, 2, 5, 5], [5, 5, 5, 0]])
    targets = rng.normal(size=(3, WIDTH)).astype("float32")
    expected = torch_sgd_step(torch_bag_via_embedding(table, combiner, **options), ids, targets, 5.0)
    actual = keras_sgd_step(bag_layer(table, combiner=combiner, **options), ids, targets, 5.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_table_after_one_sgd_step_matches_torch_embedding_bag_with_padding(table, rng):
    table[2] = 0.0
    ids = np.array([[2, 5, 2, 7], [1, 2, 5, 5], [5, 5, 5, 0]])
    targets = rng.normal(size=(3, WIDTH)).astype("float32")
    expected = torch_sgd_step(torch_module("bag", table, mode="mean", padding_idx=2), ids, targets, 5.0)
    actual = keras_sgd_step(bag_layer(table, combiner="mean", padding_idx=2), ids, targets, 5.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_table_after_one_sgd_step_with_max_combiner_matches_torch(table, rng):
    ids = np.array([[2, 5, 2, 7], [1, 2, 5, 5]])
    targets = rng.normal(size=(2, WIDTH)).astype("float32")
    expected = torch_sgd_step(torch_module("bag", table, mode="max"), ids, targets, 5.0)
    actual = keras_sgd_step(bag_layer(table, combiner="max"), ids, targets, 5.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_fit_trains_a_bag_model(rng):
    ids = keras.Input((4,), dtype="int32")
    model = keras.Model(ids, keras.layers.Dense(1)(EmbeddingBag(ROWS, WIDTH, padding_idx=0)(ids)))
    assert_fit_step_changes_weights(model, rng.integers(0, ROWS, size=(8, 4)), np.ones((8, 1), "float32"))


def test_works_in_sequential_without_input(rng):
    model = keras.Sequential([EmbeddingBag(ROWS, WIDTH, combiner="sum"), keras.layers.Dense(1)])
    assert_fit_step_changes_weights(model, rng.integers(0, ROWS, size=(8, 4)), np.ones((8, 1), "float32"))


def test_offsets_form_runs_compiled(table):
    layer = bag_layer(table, combiner="mean")
    run = compiled(lambda ids, offsets: layer(ids, offsets=offsets))
    outputs = run(keras.ops.convert_to_tensor(np.array([1, 2, 3])), keras.ops.convert_to_tensor(np.array([0, 1])))
    close(outputs, np.stack([table[1], (table[2] + table[3]) / 2]))


def test_dtype_policies(dtype_policy, table, rng):
    outputs = bag_layer(table, combiner="mean")(rng.integers(0, ROWS, size=(2, 3)))
    expected = "bfloat16" if dtype_policy == "mixed_bfloat16" else "float32"
    assert keras.backend.standardize_dtype(outputs.dtype) == expected


def test_config_round_trip():
    assert_config_round_trip(
        EmbeddingBag(ROWS, WIDTH, combiner="sqrtn", padding_idx=-1, max_norm=2.0, include_last_offset=True)
    )


def test_saves_and_loads_as_keras_file(tmp_path, rng):
    ids = keras.Input((4,), dtype="int32")
    model = keras.Model(ids, EmbeddingBag(ROWS, WIDTH, combiner="max")(ids))
    assert_saves_and_loads(model, rng.integers(0, ROWS, size=(3, 4)), tmp_path)


def test_compute_output_shape_mirrors_call(table):
    layer = bag_layer(table, include_last_offset=True)
    assert layer.compute_output_shape((3, 4)) == (3, WIDTH)
    outputs = layer(np.array([1, 2, 3]), offsets=np.array([0, 1, 3]))
    assert layer.compute_output_shape((3,), (3,)) == tuple(outputs.shape)


def test_quantized_bag_table(table):
    layer = bag_layer(table, combiner="sum")
    layer.quantize("int8")
    close_enough = np.abs(table).max() * 0.05
    np.testing.assert_allclose(to_numpy(layer(np.array([[1, 2]]))), [table[1] + table[2]], atol=close_enough)


# Bad input


@pytest.mark.parametrize(
    "offsets, message",
    [
        ([0, 3, 2], r"`offsets` must be non-decreasing. Received: offsets\[1\]=3 > offsets\[2\]=2"),
        ([0, 5], r"`offsets` must not point past the end of the 4 ids. Received: offsets\[-1\]=5"),
        ([1, 2], r"`offsets` must start at 0.*offsets\[0\]=1"),
    ],
)
def test_bad_offsets_raise_naming_the_value(offsets, message, table):
    with pytest.raises(ValueError, match=message):
        bag_layer(table)(np.array([1, 2, 3, 4]), offsets=np.array(offsets))


def test_per_sample_weights_of_the_wrong_shape_raise(table):
    with pytest.raises(ValueError, match=r"`per_sample_weights` must have the shape of `inputs`, \(2, 3\). Received: shape \(2, 2\)"):
        bag_layer(table, combiner="sum")(np.ones((2, 3), "int32"), per_sample_weights=np.ones((2, 2), "float32"))


def test_per_sample_weights_with_max_raise(table):
    with pytest.raises(ValueError, match="cannot weight combiner='max'"):
        bag_layer(table, combiner="max")(np.ones((2, 3), "int32"), per_sample_weights=np.ones((2, 3), "float32"))


def test_out_of_range_ids_raise_naming_the_id(table):
    with pytest.raises(ValueError, match=f"holds {ROWS} "):
        bag_layer(table)(np.array([[1, ROWS]]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(combiner="median"), r"`combiner` must be one of \['sum', 'mean', 'max', 'sqrtn'\]. Received: combiner='median'"),
        (dict(padding_idx=ROWS), "padding_idx=17"),
        (dict(max_norm=0), "`max_norm` must be a positive number"),
        (dict(include_last_offset=1), "`include_last_offset` must be True or False"),
    ],
)
def test_bad_arguments_raise_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EmbeddingBag(ROWS, WIDTH, **kwargs)


def test_one_dimensional_ids_without_offsets_raise(table):
    with pytest.raises(ValueError, match="2-D padded ids .* or 1-D ids with `offsets`"):
        bag_layer(table)(np.array([1, 2, 3]))


def test_compiled_calls_leave_out_of_range_ids_out_and_sort_offsets(table):
    layer = bag_layer(table, combiner="mean")
    run = compiled(lambda ids, offsets: layer(ids, offsets=offsets))
    ids = keras.ops.convert_to_tensor(np.array([1, -3, 2, 3, ROWS, 4]))
    outputs = run(ids, keras.ops.convert_to_tensor(np.array([0, 4, 2])))
    # Offsets used as [0, 2, 4]: bags {1, -3}, {2, 3}, {ROWS, 4}; out-of-range ids left out.
    close(outputs, np.stack([table[1], (table[2] + table[3]) / 2, table[4]]))


def test_from_pretrained_builds_a_frozen_bag_layer(table):
    layer = EmbeddingBag.from_pretrained(table, combiner="sum")
    assert not layer.trainable
    close(layer(np.array([[1, 2]])), [table[1] + table[2]])
