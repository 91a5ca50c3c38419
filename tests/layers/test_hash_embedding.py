"""HashEmbedding, the in-graph id hashing, hash_strings and split_ids."""

import os

import keras
import numpy as np
import pytest
from embed_testing import backend
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.layers import HashEmbedding
from keras_embed.ops.hashing import hash_ids
from keras_embed.preprocessing import hash_strings
from keras_embed.preprocessing import split_ids

REFERENCE = np.load(os.path.join(os.path.dirname(__file__), "..", "fixtures", "hash_reference.npz"))
IDS = REFERENCE["ids"]  # int64, incl. 0, -1, 2**31, 2**63 - 1, -2**63
SMALL = (IDS >= -(2**31)) & (IDS < 2**31)


def backend_has_int64():
    """JAX runs with jax_enable_x64 off: int64 arrays become int32 there."""
    return backend() != "jax"


def reference_buckets(seed_index, num_buckets, count):
    return REFERENCE["hashes"][seed_index][:, :count] % num_buckets


# --- the hash functions: committed fixture vectors -------------------------------


@pytest.mark.parametrize("seed_index", [0, 1, 2])
def test_hashes_of_int32_pairs_match_the_committed_vectors(seed_index):
    seed = int(REFERENCE["seeds"][seed_index])
    got = to_numpy(hash_ids(split_ids(IDS), 3, seed, id_pairs=True))
    np.testing.assert_array_equal(got, REFERENCE["hashes"][seed_index])


def test_hashes_of_int64_ids_match_the_committed_vectors():
    if not backend_has_int64():
        pytest.skip("JAX without x64 has no int64 on device; id_pairs covers it")
    ids = keras.ops.convert_to_tensor(IDS, dtype="int64")
    np.testing.assert_array_equal(to_numpy(hash_ids(ids, 3, 1)), REFERENCE["hashes"][1])


def test_int32_ids_hash_like_the_same_ids_in_int64():
    # Negative int32 ids are sign-extended, so -1 hashes as the int64 -1.
    got = to_numpy(hash_ids(IDS[SMALL].astype(np.int32), 3, 0))
    np.testing.assert_array_equal(got, REFERENCE["hashes"][0][SMALL])


def test_two_hashes_put_few_ids_on_a_shared_pair_of_buckets():
    # 1M random ids, 100k buckets. An id's ordered pair (h0, h1) is shared with a
    # given other id with probability 1/B**2, so the expected fraction of ids that
    # share it with any of the other N-1 is 1 - (1 - 1/B**2)**(N-1) ~= 1.0e-4:
    # about 100 ids, as ~50 colliding pairs (Poisson, sd of the id count ~14).
    count, buckets = 1_000_000, 100_000
    ids = np.random.default_rng(7).integers(-(2**63), 2**63 - 1, size=count, dtype=np.int64)
    layer = HashEmbedding(buckets, 4, seed=3, id_pairs=True)
    pairs = to_numpy(layer.bucket_ids(split_ids(ids))).astype(np.int64)
    codes = pairs[:, 0] * buckets + pairs[:, 1]
    _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    shared = np.mean(counts[inverse] > 1)
    expected = 1 - (1 - 1 / buckets**2) ** (count - 1)
    assert shared < 0.01
    assert abs(shared * count - expected * count) < 60, (shared, expected)
    # Each hash alone spreads ids like a uniform draw: loads ~ Poisson(10), so about
    # B * exp(-10) ~= 4.5 empty buckets, a variance of 10, and no load of 40 (P ~ 1e-11).
    loads = np.bincount(pairs[:, 0], minlength=buckets)
    assert np.sum(loads == 0) < 20 and loads.max() < 40
    assert 9.5 < loads.var() < 10.5


# --- hash_strings and split_ids ----------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_hash_strings_matches_the_committed_ids(seed):
    strings = REFERENCE["strings"].tolist()
    np.testing.assert_array_equal(hash_strings(strings, seed=seed), REFERENCE["string_ids"][seed])


def test_hash_strings_keeps_the_input_shape_and_hashes_bytes_as_utf8():
    nested = [["cat", "naïve"], ["東京", "dog"]]
    ids = hash_strings(nested)
    assert ids.shape == (2, 2) and ids.dtype == np.int64
    assert ids[0, 1] == hash_strings("naïve".encode("utf-8"))


def test_hash_strings_in_tf_data_gives_the_numpy_ids():
    tf = pytest.importorskip("tensorflow")
    strings = REFERENCE["strings"].tolist()
    dataset = tf.data.Dataset.from_tensor_slices(strings).batch(3).map(hash_strings)
    got = np.concatenate([batch.numpy() for batch in dataset])
    np.testing.assert_array_equal(got, REFERENCE["string_ids"][0])


def test_hash_strings_rejects_non_strings_and_bad_seeds():
    with pytest.raises(ValueError, match="`strings` must hold str or bytes values. Received: 3"):
        hash_strings(["a", 3])
    with pytest.raises(ValueError, match="`seed` must be an integer in"):
        hash_strings(["a"], seed=-1)


def test_split_ids_holds_the_raw_high_and_low_words():
    assert split_ids([2**32 + 5, -1, 2**31]).tolist() == [[1, 5], [-1, -1], [0, -(2**31)]]


# --- the layer -----------------------------------------------------------------------


def built_layer(**kwargs):
    kwargs = {"num_buckets": 50, "output_dim": 6, "id_pairs": True, **kwargs}
    layer = HashEmbedding(**kwargs)
    layer.build((None, 2) if kwargs["id_pairs"] else (None,))
    rng = np.random.default_rng(0)
    layer.buckets.embeddings.assign(rng.normal(size=layer.buckets.embeddings.shape))
    if layer.importance_weights:
        layer.importance.assign(rng.normal(size=layer.importance.shape))
    return layer


def test_output_is_the_importance_weighted_sum_of_the_hashed_rows():
    # Svenstrup et al.: e(id) = sum_i P[g(id), i] * E[h_i(id)], h_i = hash_i % B, g = hash_2 % K.
    layer = built_layer(seed=1, num_importance_buckets=30)
    hashes = REFERENCE["hashes"][1]
    table, importance = to_numpy(layer.buckets.embeddings), to_numpy(layer.importance)
    weights = importance[hashes[:, 2] % 30]  # (ids, 2)
    expected = weights[:, 0:1] * table[hashes[:, 0] % 50] + weights[:, 1:2] * table[hashes[:, 1] % 50]
    np.testing.assert_allclose(to_numpy(layer(split_ids(IDS))), expected, rtol=1e-6, atol=1e-6)


def test_concat_combiner_concatenates_the_weighted_rows():
    layer = built_layer(combiner="concat")
    hashes = REFERENCE["hashes"][0]
    table, importance = to_numpy(layer.buckets.embeddings), to_numpy(layer.importance)
    weights = importance[hashes[:, 2] % 50]
    expected = np.concatenate(
        [weights[:, 0:1] * table[hashes[:, 0] % 50], weights[:, 1:2] * table[hashes[:, 1] % 50]], -1
    )
    np.testing.assert_allclose(to_numpy(layer(split_ids(IDS))), expected, rtol=1e-6, atol=1e-6)
    assert layer.compute_output_shape((4, 2)) == (4, 12)


def test_without_importance_weights_rows_are_summed_unweighted():
    layer = built_layer(importance_weights=False, num_hashes=3)
    hashes = REFERENCE["hashes"][0] % 50
    table = to_numpy(layer.buckets.embeddings)
    expected = table[hashes[:, 0]] + table[hashes[:, 1]] + table[hashes[:, 2]]
    np.testing.assert_allclose(to_numpy(layer(split_ids(IDS))), expected, rtol=1e-6, atol=1e-6)


def test_int64_int32_and_pair_inputs_embed_an_id_alike():
    pairs_layer = built_layer()
    plain = HashEmbedding(50, 6)
    plain.build((None,))
    plain.set_weights(pairs_layer.get_weights())
    from_pairs = to_numpy(pairs_layer(split_ids(IDS)))
    np.testing.assert_allclose(to_numpy(plain(IDS[SMALL].astype(np.int32))), from_pairs[SMALL], rtol=1e-6)
    if backend_has_int64():
        wide = keras.ops.convert_to_tensor(IDS, dtype="int64")
        np.testing.assert_allclose(to_numpy(plain(wide)), from_pairs, rtol=1e-6)


def test_compiled_call_matches_eager_call():
    layer = built_layer()
    pairs = split_ids(IDS)
    np.testing.assert_allclose(to_numpy(compiled(layer)(pairs)), to_numpy(layer(pairs)), rtol=1e-6, atol=1e-6)


def test_mask_zero_masks_id_zero_only():
    layer = HashEmbedding(10, 4, mask_zero=True)
    ids = np.array([[0, 5, 0, 2**30]])
    assert to_numpy(layer.compute_mask(ids)).tolist() == [[False, True, False, True]]
    paired = HashEmbedding(10, 4, mask_zero=True, id_pairs=True)
    assert to_numpy(paired.compute_mask(split_ids([0, 2**32]))).tolist() == [False, True]


def test_sequential_without_input_casts_float_symbolic_ids():
    model = keras.Sequential([HashEmbedding(40, 4), keras.layers.Dense(1)])
    ids = np.array([[1, 7, 300], [2, 2, 9]])
    direct = model.layers[0]
    outputs = model.predict(ids, verbose=0)
    np.testing.assert_allclose(outputs, to_numpy(model.layers[1](direct(ids.astype("int32")))), rtol=1e-5)


@pytest.mark.parametrize("mode, levels", [("int8", 127), ("int4", 7)])
def test_quantization_keeps_outputs_close(mode, levels):
    ids = np.arange(20).reshape(4, 5)
    model = keras.Sequential([keras.Input((5,), dtype="int32"), HashEmbedding(100, 16)])
    before = to_numpy(model(ids))
    model.quantize(mode)
    after = to_numpy(model(ids))
    assert keras.backend.standardize_dtype(model.layers[0].buckets.embeddings.dtype) == "int8"
    # Absmax rows: |error| <= max|row| / levels / 2 per row (|row| <= 0.05), 2 rows summed.
    np.testing.assert_allclose(after, before, atol=2 * 0.05 / levels / 2 + 1e-6)


def test_compute_output_shape_drops_the_pair_axis():
    assert HashEmbedding(10, 4).compute_output_shape((2, 3)) == (2, 3, 4)
    assert HashEmbedding(10, 4, id_pairs=True).compute_output_shape((2, 3, 2)) == (2, 3, 4)


# --- bad input -------------------------------------------------------------------------


def test_rejects_non_integer_float_ids():
    with pytest.raises(ValueError, match=r"`inputs` must hold integer ids; float ids are cast only when they are whole numbers. Received: 1.5"):
        HashEmbedding(10, 4)(np.array([1.0, 1.5]))


def test_rejects_string_ids():
    with pytest.raises(ValueError, match="`inputs` must hold integer ids, but has dtype"):
        HashEmbedding(10, 4)(np.array(["a", "b"]))


def test_rejects_pairs_without_a_last_axis_of_two():
    with pytest.raises(ValueError, match="last axis of size 2"):
        HashEmbedding(10, 4, id_pairs=True)(np.zeros((2, 3), "int32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_buckets": 0}, "`num_buckets` must be a positive integer. Received: num_buckets=0"),
        ({"num_hashes": 0}, "`num_hashes` must be a positive integer"),
        ({"combiner": "mean"}, "`combiner` must be one of"),
        ({"seed": 2**32}, r"`seed` must be an integer in \[0, 2\*\*32\)"),
        ({"importance_weights": 1}, "`importance_weights` must be True or False"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HashEmbedding(**{"num_buckets": 10, "output_dim": 4, **kwargs})


def test_sequential_without_input_under_mixed_bfloat16_refuses_rounded_ids():
    # Sequential builds on an input in the compute dtype: bfloat16 turns id 257 into 256.
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras.Sequential([HashEmbedding(40, 4)])
    with pytest.raises(ValueError, match="arrived as bfloat16, which cannot hold every id exactly"):
        model.predict(np.array([[257, 256]]), verbose=0)


def test_int64_ids_a_backend_would_truncate_raise():
    if backend_has_int64():
        pytest.skip("only JAX without x64 narrows int64 ids to int32")
    with pytest.raises(ValueError, match="`inputs` holds 9000000000 at index \\(1,\\), which does not fit the int32"):
        HashEmbedding(10, 4)(np.array([1, 9_000_000_000]))
