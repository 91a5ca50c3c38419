"""QREmbedding: the quotient-remainder trick of Shi et al. (2020)."""

import math

import keras
import numpy as np
import pytest
from embed_testing import backend
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.layers import QREmbedding


def randomised(layer, seed=0):
    layer.build()
    rng = np.random.default_rng(seed)
    for table in (layer.quotient, layer.remainder):
        table.embeddings.assign(rng.normal(size=table.embeddings.shape))
    return to_numpy(layer.quotient.embeddings), to_numpy(layer.remainder.embeddings)


@pytest.mark.parametrize(
    "operation, combine",
    [
        ("mult", lambda q, r: q * r),
        ("add", lambda q, r: q + r),
        ("concat", lambda q, r: np.concatenate([q, r], -1)),
    ],
)
def test_output_combines_quotient_and_remainder_rows(operation, combine):
    layer = QREmbedding(103, 6, num_collisions=10, operation=operation)
    quotient, remainder = randomised(layer)
    ids = np.arange(103).reshape(1, 103)
    expected = combine(quotient[ids // 10], remainder[ids % 10])
    np.testing.assert_allclose(to_numpy(layer(ids)), expected, rtol=1e-6)


def test_table_sizes_follow_the_paper():
    layer = QREmbedding(1001, 4, num_collisions=10, operation="concat")
    layer.build()
    assert tuple(layer.quotient.embeddings.shape) == (101, 2)  # ceil(1001 / 10) rows
    assert tuple(layer.remainder.embeddings.shape) == (10, 2)
    assert QREmbedding(1001, 5, 10, operation="concat").compute_output_shape((3,)) == (3, 5)


def test_no_two_ids_share_both_rows():
    layer = QREmbedding(1000, 2, num_collisions=37)
    quotient, remainder = (to_numpy(x) for x in layer.quotient_remainder(np.arange(1000)))
    assert len(set(zip(quotient.tolist(), remainder.tolist()))) == 1000


def test_ids_above_2_to_the_24_use_integer_division():
    # float32(2**30 - 1) == 2**30, so a float32 division would give quotient 32768.
    layer = QREmbedding(2**30, 2, num_collisions=2**15)
    quotient, remainder = layer.quotient_remainder(np.array([2**30 - 1], dtype="int32"))
    assert (int(to_numpy(quotient)[0]), int(to_numpy(remainder)[0])) == (2**15 - 1, 2**15 - 1)
    table_q, table_r = randomised(layer)
    np.testing.assert_allclose(
        to_numpy(compiled(layer)(np.array([2**30 - 1], "int32")))[0], table_q[-1] * table_r[-1], rtol=1e-6
    )


def test_int64_ids_above_2_to_the_31_stay_exact():
    if backend() == "jax":
        pytest.skip("JAX without x64 has no int64 ids")
    layer = QREmbedding(2**40, 2, num_collisions=2**20)
    ids = keras.ops.convert_to_tensor(np.array([2**40 - 1, 2**33 + 5]), dtype="int64")
    quotient, remainder = (to_numpy(x).tolist() for x in layer.quotient_remainder(ids))
    assert quotient == [2**20 - 1, 2**13] and remainder == [2**20 - 1, 5]


def test_default_initialisation_is_symmetric_within_the_dlrm_bound():
    layer = QREmbedding(4000, 64, num_collisions=40)
    layer.build()
    for table, rows in ((layer.quotient, 100), (layer.remainder, 40)):
        weights = to_numpy(table.embeddings)
        bound = math.sqrt(1 / rows)
        assert np.abs(weights).max() <= bound
        # uniform(-b, b): mean 0 (sd b/sqrt(3n)) and about half the weights negative.
        assert abs(weights.mean()) < 5 * bound / math.sqrt(3 * weights.size)
        assert 0.45 < np.mean(weights < 0) < 0.55


def test_out_of_range_ids_raise_when_known_and_embed_to_zero_when_compiled():
    layer = QREmbedding(50, 3, num_collisions=7)
    with pytest.raises(ValueError, match=r"`inputs` holds 50 at index \(1,\), outside the valid range \[0, 50\)"):
        layer(np.array([3, 50]))
    outputs = to_numpy(compiled(layer)(np.array([3, 50, -1], "int32")))
    assert np.all(outputs[1:] == 0) and np.any(outputs[0] != 0)


def test_sequential_without_input_embeds_float_symbolic_ids():
    model = keras.Sequential([QREmbedding(100, 4, num_collisions=8)])
    ids = np.array([[1, 7, 99]])
    np.testing.assert_allclose(model.predict(ids, verbose=0), to_numpy(model.layers[0](ids)), rtol=1e-6)


def test_int8_quantization_quantizes_both_tables():
    model = keras.Sequential([keras.Input((3,), dtype="int32"), QREmbedding(100, 16, 8, operation="add")])
    ids = np.array([[1, 50, 99]])
    before = to_numpy(model(ids))
    model.quantize("int8")
    layer = model.layers[0]
    assert keras.backend.standardize_dtype(layer.quotient.embeddings.dtype) == "int8"
    assert keras.backend.standardize_dtype(layer.remainder.embeddings.dtype) == "int8"
    # Each row's int8 error is at most max|row| / 254 <= sqrt(1/8) / 254; two rows are added.
    np.testing.assert_allclose(to_numpy(model(ids)), before, atol=2 * math.sqrt(1 / 8) / 254)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_collisions": 0}, "`num_collisions` must be a positive integer. Received: num_collisions=0"),
        ({"num_collisions": 2.5}, "`num_collisions` must be a positive integer"),
        ({"operation": "max"}, "`operation` must be one of"),
        ({"output_dim": 1, "operation": "concat"}, "`output_dim` must be at least 2"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QREmbedding(**{"input_dim": 10, "output_dim": 4, "num_collisions": 3, **kwargs})


def test_rejects_non_integer_ids():
    with pytest.raises(ValueError, match="`inputs` must hold integer ids"):
        QREmbedding(10, 4, 3)(np.array([0.5]))


def test_mask_zero_masks_id_zero_only():
    layer = QREmbedding(500, 8, num_collisions=16, mask_zero=True)
    assert to_numpy(layer.compute_mask(np.array([0, 4]))).tolist() == [False, True]
