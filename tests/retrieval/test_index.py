"""`Index` against numpy argsort; quantised recall bounds; save/load; errors."""

import numpy as np
import pytest

from keras_embed.ops import _top_k as _exact
from keras_embed.ops._int8_products import Int8Rows, fastest_kernel
from keras_embed.retrieval import Index
from keras_embed.retrieval import index as index_module

pytestmark = pytest.mark.backend_independent


def argsort_top_k(scores, k):
    # Best first, equal scores by position: a stable sort of the negated scores.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), order


@pytest.fixture
def data(rng):
    return rng.normal(size=(500, 16)).astype("float32"), rng.normal(size=(7, 16)).astype("float32")


def test_exact_inner_product_equals_argsort(data):
    candidates, queries = data
    index = Index(16)
    index.add(candidates)
    scores, ids = index.search(queries, k=10)
    expected_scores, expected_ids = argsort_top_k(queries @ candidates.T, 10)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


def test_exact_cosine_equals_argsort_of_cosines(data):
    candidates, queries = data
    index = Index(16, metric="cosine")
    index.add(candidates)
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    _, expected_ids = argsort_top_k(queries @ unit.T, 10)
    np.testing.assert_array_equal(index.search(queries, k=10)[1], expected_ids)


def test_ties_go_to_the_earlier_vector():
    index = Index(2)
    index.add(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), ids=[5, 9, 3, 7])
    assert index.search(np.array([[1.0, 0.0]]), k=2)[1].tolist() == [[9, 3]]


def test_blocked_search_equals_one_block(data, monkeypatch):
    candidates, queries = data
    index = Index(16)
    index.add(candidates)
    whole = index.search(queries, k=10)
    monkeypatch.setattr(_exact, "SCORE_BUDGET", 64)
    monkeypatch.setattr(_exact, "MIN_CHUNK_ROWS", 16)  # 32 blocks of candidates, query groups of 4.
    monkeypatch.setattr(_exact, "BUCKET_ROWS", 2)
    blocked = index.search(queries, k=10)
    np.testing.assert_array_equal(blocked[1], whole[1])
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-6)


def test_custom_ids_are_returned(data):
    candidates, queries = data
    index = Index(16)
    index.add(candidates[:250], ids=np.arange(250) * 2 + 1000)
    index.add(candidates[250:])  # Default ids continue from the size: 250..499.
    _, expected = argsort_top_k(queries @ candidates.T, 5)
    mapping = np.concatenate([np.arange(250) * 2 + 1000, np.arange(250, 500)])
    np.testing.assert_array_equal(index.search(queries, 5)[1], mapping[expected])


def recall(found, exact):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact)])


@pytest.mark.parametrize("quantization, factor, bound", [("int8", 4, 0.99), ("binary", 10, 0.9)])
def test_quantised_search_with_rescoring_keeps_recall(quantization, factor, bound):
    rng = np.random.default_rng(3)
    # Clustered data: the realistic case where neighbours stand out from the rest.
    centers = rng.normal(size=(50, 64))
    candidates = (centers[rng.integers(0, 50, 4000)] + 0.5 * rng.normal(size=(4000, 64))).astype("float32")
    queries = (centers[rng.integers(0, 50, 50)] + 0.5 * rng.normal(size=(50, 64))).astype("float32")
    exact, quantised = Index(64, "cosine"), Index(64, "cosine", quantization, rescore_factor=factor)
    exact.add(candidates)
    quantised.add(candidates)
    found = quantised.search(queries, 10)[1]
    assert recall(found, exact.search(queries, 10)[1]) >= bound


def test_quantised_scores_are_the_float_scores_of_the_found_ids(data):
    candidates, queries = data
    index = Index(16, quantization="int8")
    index.add(candidates)
    scores, ids = index.search(queries, 5)
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, candidates[ids]), rtol=1e-5)


@pytest.mark.parametrize("quantization", [None, "int8", "binary"])
def test_save_and_load_round_trip(data, tmp_path, quantization):
    candidates, queries = data
    index = Index(16, metric="cosine", quantization=quantization)
    index.add(candidates, ids=np.arange(500) + 7)
    index.save(tmp_path / "index.npz")
    restored = Index.load(tmp_path / "index.npz")
    assert (restored.metric, restored.quantization, len(restored)) == ("cosine", quantization, 500)
    for ours, theirs in zip(restored.search(queries, 5), index.search(queries, 5)):
        np.testing.assert_array_equal(ours, theirs)
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]  # No temporary file left.


def test_dimension_mismatch_is_refused(data):
    index = Index(16)
    with pytest.raises(ValueError, match=r"`vectors` must have shape \(n, 16\).*Received: shape \(2, 3\)"):
        index.add(np.ones((2, 3)))


def test_searching_an_empty_index_is_refused():
    with pytest.raises(ValueError, match="The index is empty"):
        Index(4).search(np.ones((1, 4)), 1)


def test_k_larger_than_the_index_is_refused(data):
    index = Index(16)
    index.add(data[0][:3])
    with pytest.raises(ValueError, match="`k` must be at most the index size 3. Received: k=4"):
        index.search(data[1], 4)


def test_non_finite_queries_are_refused(data):
    index = Index(16)
    index.add(data[0])
    queries = data[1].copy()
    queries[2, 5] = np.nan
    with pytest.raises(ValueError, match="`queries` must be finite. Received: a nan or inf in row 2"):
        index.search(queries, 3)


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="`metric` must be one of"):
        Index(4, metric="l2")


def skip_unless_runnable(kernel):
    # This module runs in one backend's pass only (backend_independent), so the oneDNN kernel
    # is checked wherever torch is installed, importing it if no earlier test did.
    if kernel == "onednn" and fastest_kernel() != "onednn":
        pytest.skip("torch with oneDNN's quantised linear is not installed")


@pytest.mark.parametrize("kernel", ["numpy", "onednn"])
def test_int8_products_are_code_products_over_row_scales(rng, kernel):
    skip_unless_runnable(kernel)
    codes = rng.integers(-127, 128, size=(40, 16)).astype(np.int8)
    scales = rng.uniform(0.5, 2.0, size=40).astype(np.float32)
    query_codes = rng.integers(-127, 128, size=(7, 16)).astype(np.int8)
    expected = (query_codes.astype(np.int64) @ codes.astype(np.int64).T) / scales  # Integer sums, then scales.
    products = Int8Rows(codes, scales, kernel).products(query_codes, 8, 40)
    np.testing.assert_allclose(products, expected[:, 8:], rtol=1e-6)


@pytest.mark.parametrize("kernel", ["numpy", "onednn"])
def test_int8_search_over_blocks_equals_numpy_in_one_block(data, monkeypatch, kernel):
    skip_unless_runnable(kernel)
    candidates, queries = data
    found = []
    for used, block_rows in (("numpy", 1 << 14), (kernel, 64)):  # 8 blocks of 64 rows.
        monkeypatch.setattr(index_module, "fastest_kernel", lambda rows, used=used: used)
        monkeypatch.setattr(index_module, "BLOCK_ROWS", block_rows)
        index = Index(16, quantization="int8")
        index.add(candidates)
        found.append(index.search(queries, 10))
    np.testing.assert_array_equal(found[0][1], found[1][1])
    np.testing.assert_allclose(found[0][0], found[1][0], rtol=1e-6)
