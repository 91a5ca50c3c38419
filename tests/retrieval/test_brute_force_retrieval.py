"""`BruteForceRetrieval` against numpy argsort; config and `.keras` round trips; inside a model."""

import keras
import numpy as np
import pytest

from embed_testing import assert_config_round_trip, to_numpy
from keras_embed.retrieval import BruteForceRetrieval


@pytest.fixture
def candidates(rng):
    return rng.normal(size=(40, 8)).astype("float32")


def test_top_k_equals_argsort_of_inner_products(rng, candidates):
    queries = rng.normal(size=(5, 8)).astype("float32")
    scores, ids = BruteForceRetrieval(40, 8, k=4, candidates=candidates)(queries)
    expected = np.argsort(-(queries @ candidates.T), axis=1)[:, :4]  # Random scores: no ties.
    np.testing.assert_array_equal(to_numpy(ids), expected)
    np.testing.assert_allclose(to_numpy(scores), np.take_along_axis(queries @ candidates.T, expected, 1), rtol=1e-5)


def test_cosine_ranks_by_angle(rng, candidates):
    queries = rng.normal(size=(5, 8)).astype("float32")
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    _, ids = BruteForceRetrieval(40, 8, k=3, metric="cosine", candidates=candidates)(queries)
    np.testing.assert_array_equal(to_numpy(ids), np.argsort(-(queries @ unit.T), axis=1)[:, :3])


def test_scores_are_float32_under_mixed_bfloat16(rng, candidates, dtype_policy):
    scores, _ = BruteForceRetrieval(40, 8, k=3, candidates=candidates)(rng.normal(size=(2, 8)).astype("float32"))
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"


def test_config_round_trip():
    assert_config_round_trip(BruteForceRetrieval(40, 8, k=3, metric="cosine"))


def test_saved_model_keeps_the_candidates(rng, candidates, tmp_path):
    model = keras.Sequential([keras.layers.Dense(8), BruteForceRetrieval(40, 8, k=3, candidates=candidates)])
    queries = rng.normal(size=(4, 8)).astype("float32")
    before = [to_numpy(x) for x in model(queries)]
    model.save(tmp_path / "model.keras")
    after = [to_numpy(x) for x in keras.saving.load_model(tmp_path / "model.keras")(queries)]
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_allclose(after[0], before[0], rtol=1e-6)


def test_k_larger_than_the_candidates_is_refused():
    with pytest.raises(ValueError, match="`k` must be at most num_candidates=4. Received: k=5"):
        BruteForceRetrieval(4, 2, k=5)


def test_wrong_candidate_shape_is_refused():
    layer = BruteForceRetrieval(4, 2, k=1)
    layer.build((None, 2))
    with pytest.raises(ValueError, match=r"`candidates` must have shape \(4, 2\)"):
        layer.set_candidates(np.ones((3, 2)))


def test_blocked_top_k_equals_argsort(rng):
    candidates = rng.normal(size=(40, 8)).astype("float32")  # Six blocks of 6 and a tail of 4.
    queries = rng.normal(size=(5, 8)).astype("float32")
    scores, ids = BruteForceRetrieval(40, 8, k=4, candidates=candidates, block_size=6)(queries)
    expected = np.argsort(-(queries @ candidates.T), axis=1)[:, :4]
    np.testing.assert_array_equal(to_numpy(ids), expected)
    np.testing.assert_allclose(to_numpy(scores), np.take_along_axis(queries @ candidates.T, expected, 1), rtol=1e-5)


def test_blocked_search_inside_a_compiled_model_equals_argsort(rng):
    candidates = rng.normal(size=(30, 4)).astype("float32")
    queries = rng.normal(size=(6, 4)).astype("float32")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, BruteForceRetrieval(30, 4, k=3, candidates=candidates, block_size=7)(inputs)[1])
    ids = model.predict(queries, batch_size=3, verbose=0)  # jit-compiled on JAX and TensorFlow.
    np.testing.assert_array_equal(ids, np.argsort(-(queries @ candidates.T), axis=1)[:, :3])


def test_zero_block_size_is_refused():
    with pytest.raises(ValueError, match="`block_size` must be a positive integer. Received: block_size=0"):
        BruteForceRetrieval(4, 2, k=1, block_size=0)
