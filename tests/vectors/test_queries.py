"""Similarity queries against numpy formulas (gensim semantics), and gensim itself."""

import numpy as np
import pytest

from keras_embed.vectors import Vectors

pytestmark = pytest.mark.backend_independent

COUNT, DIM = 300, 16


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(11)
    words = [f"w{i}" for i in range(COUNT)]
    return Vectors(words, rng.normal(size=(COUNT, DIM)).astype(np.float32))


def units(matrix):
    matrix = np.asarray(matrix, np.float64)
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def reference_top(scores, exclude, topn):
    order = [i for i in np.argsort(-scores, kind="stable") if i not in exclude]
    return order[:topn]


def test_similarity_is_the_cosine(vectors):
    a, b = vectors.matrix[3], vectors.matrix[7]
    expected = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert vectors.similarity("w3", "w7") == pytest.approx(expected, rel=1e-5)


def test_most_similar_is_3cosadd_over_unit_vectors_without_input_words(vectors):
    normed = units(vectors.matrix)
    query = units((normed[1] + normed[2] - normed[3]) / 3)  # gensim: mean of weighted unit vectors.
    scores = normed @ query
    expected = reference_top(scores, {1, 2, 3}, 5)
    result = vectors.most_similar(positive=["w1", "w2"], negative=["w3"], topn=5)
    assert [vectors.index[word] for word, _ in result] == expected
    np.testing.assert_allclose([s for _, s in result], scores[expected], rtol=1e-5)


def test_most_similar_restrict_vocab_searches_only_the_first_rows(vectors):
    normed = units(vectors.matrix)
    scores = normed[:50] @ normed[200]
    result = vectors.most_similar("w200", topn=4, restrict_vocab=50)
    assert [vectors.index[word] for word, _ in result] == reference_top(scores, set(), 4)


def test_most_similar_with_topn_none_returns_every_score(vectors):
    normed = units(vectors.matrix)
    np.testing.assert_allclose(vectors.most_similar("w5", topn=None), normed @ normed[5], atol=1e-6)


def test_most_similar_cosmul_follows_levy_and_goldberg(vectors):
    normed = units(vectors.matrix)
    shifted = lambda row: (1 + normed @ normed[row]) / 2
    scores = shifted(1) * shifted(2) / (shifted(3) + 1e-6)
    expected = reference_top(scores, {1, 2, 3}, 5)
    result = vectors.most_similar_cosmul(positive=["w1", "w2"], negative=["w3"], topn=5)
    assert [vectors.index[word] for word, _ in result] == expected
    np.testing.assert_allclose([s for _, s in result], scores[expected], rtol=1e-5)


def test_nearest_returns_top_k_for_each_query_of_a_batch(vectors):
    queries = np.random.default_rng(2).normal(size=(64, DIM)).astype(np.float32)
    indices, scores = vectors.nearest(queries, k=7)
    reference = units(queries) @ units(vectors.matrix).T
    expected = np.argsort(-reference, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(reference, expected, 1), rtol=1e-5)


def test_nearest_in_small_chunks_equals_one_big_block(vectors, monkeypatch):
    from keras_embed.ops import _top_k as queries

    queries_batch = np.random.default_rng(4).normal(size=(5, DIM)).astype(np.float32)
    whole = vectors.nearest(queries_batch, k=9)
    monkeypatch.setattr(queries, "SCORE_BUDGET", 64)
    monkeypatch.setattr(queries, "MIN_CHUNK_ROWS", 16)  # 19 chunks of rows, 2 query groups.
    chunked = vectors.nearest(queries_batch, k=9)
    np.testing.assert_array_equal(chunked[0], whole[0])
    # A lone query takes BLAS's matrix-vector kernel, which may round the last bit differently.
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-6)


def test_neighbors_batches_most_similar_of_single_words(vectors):
    for batched, word in zip(vectors.neighbors(["w0", "w9"], topn=3), ["w0", "w9"]):
        single = vectors.most_similar(word, topn=3)
        assert [w for w, _ in batched] == [w for w, _ in single]
        np.testing.assert_allclose([s for _, s in batched], [s for _, s in single], rtol=1e-5)


def test_faiss_search_equals_exact_search(vectors):
    pytest.importorskip("faiss")
    queries_batch = np.random.default_rng(5).normal(size=(8, DIM)).astype(np.float32)
    exact = vectors.nearest(queries_batch, k=5)
    fast = vectors.nearest(queries_batch, k=5, method="faiss")
    np.testing.assert_array_equal(fast[0], exact[0])
    np.testing.assert_allclose(fast[1], exact[1], rtol=1e-5)


def test_unknown_word_raises_key_error_naming_it(vectors):
    with pytest.raises(KeyError, match="'nope' is not in the vocabulary"):
        vectors.most_similar("nope")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"topn": -1}, "`topn` must be a non-negative integer"),
        ({"restrict_vocab": 0}, "`restrict_vocab` must be a positive integer"),
        ({"positive": [], "negative": []}, "both empty"),
    ],
)
def test_bad_query_arguments_are_refused(vectors, kwargs, match):
    kwargs.setdefault("positive", "w1")
    with pytest.raises(ValueError, match=match):
        vectors.most_similar(**kwargs)


def test_queries_agree_with_gensim(vectors):
    gensim_models = pytest.importorskip("gensim.models")
    theirs = gensim_models.KeyedVectors(DIM)
    theirs.add_vectors(vectors.words, vectors.matrix)
    for ours_fn, theirs_fn in [
        (vectors.most_similar, theirs.most_similar),
        (vectors.most_similar_cosmul, theirs.most_similar_cosmul),
    ]:
        ours = ours_fn(positive=["w4", "w8"], negative=["w15"], topn=6)
        expected = theirs_fn(positive=["w4", "w8"], negative=["w15"], topn=6)
        assert [w for w, _ in ours] == [w for w, _ in expected]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in expected], rtol=1e-5)
    ours = vectors.most_similar("w3", topn=5, restrict_vocab=100)
    expected = theirs.most_similar("w3", topn=5, restrict_vocab=100)
    assert [w for w, _ in ours] == [w for w, _ in expected]


@pytest.fixture
def small_chunks(monkeypatch):
    """Groups of up to 4 queries, chunks of 64 rows or more in buckets of 2, so
    that for k <= 32 the candidate bound and the merge across chunks run even
    on a tiny matrix."""
    from keras_embed.ops import _top_k as queries

    monkeypatch.setattr(queries, "SCORE_BUDGET", 256)
    monkeypatch.setattr(queries, "MIN_CHUNK_ROWS", 64)
    monkeypatch.setattr(queries, "BUCKET_ROWS", 2)


def scaled_basis_rows(count, dim, seed):
    """Rows `2**p * e_axis`: each scores exactly `query[axis]` (a power of two
    scales and unscales exactly), so many rows tie bit for bit."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((count, dim), dtype=np.float32)
    matrix[np.arange(count), rng.integers(0, dim, count)] = 2.0 ** rng.integers(-3, 4, count)
    return matrix


def test_nearest_with_candidate_bound_is_exact_and_breaks_ties_by_row(small_chunks):
    # About 150 tied rows per axis: the bound of the first chunk equals the best score.
    matrix = scaled_basis_rows(300, 2, seed=6)
    vectors = Vectors([f"w{i}" for i in range(300)], matrix)
    query_batch = np.random.default_rng(7).normal(size=(3, 2)).astype(np.float32)
    indices, scores = vectors.nearest(query_batch, k=20)
    unit_queries = query_batch / np.linalg.norm(query_batch, axis=1, keepdims=True)
    reference = unit_queries[:, matrix.argmax(axis=1)]  # (3, 300) exact float32 scores.
    expected = np.argsort(-reference, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(scores, np.take_along_axis(reference, expected, 1))


def test_nearest_searches_a_large_batch_a_group_of_queries_at_a_time(vectors, small_chunks):
    query_batch = np.random.default_rng(12).normal(size=(7, DIM)).astype(np.float32)  # 2 groups.
    indices, _ = vectors.nearest(query_batch, k=4)
    reference = units(query_batch) @ units(vectors.matrix).T
    np.testing.assert_array_equal(indices, np.argsort(-reference, axis=1, kind="stable")[:, :4])


def test_neighbors_in_small_chunks_leave_out_each_word_itself(vectors, small_chunks):
    normed = units(vectors.matrix)
    words = ["w0", "w17", "w150", "w299"]
    for word, result in zip(words, vectors.neighbors(words, topn=12)):
        row = vectors.index[word]
        expected = reference_top(normed @ normed[row], {row}, 12)
        assert [vectors.index[w] for w, _ in result] == expected


def test_most_similar_returns_only_the_words_left_when_too_few_remain():
    vectors = Vectors(["a", "b", "c"], np.eye(3, dtype=np.float32) + 0.1)
    result = vectors.most_similar("a", topn=10)
    assert sorted(word for word, _ in result) == ["b", "c"]  # gensim: no padding, no "a".


def test_nearest_never_returns_rows_whose_score_is_nan(small_chunks):
    matrix = np.random.default_rng(8).normal(size=(100, 4)).astype(np.float32)
    nan_rows = [3, 10, 20, 40, 41, 50]  # In 5 buckets of the first chunk.
    matrix[nan_rows] = np.nan
    vectors = Vectors([f"w{i}" for i in range(100)], matrix)
    query = np.random.default_rng(9).normal(size=4).astype(np.float32)
    finite = np.where(np.isnan(matrix), 1.0, matrix)  # Any stand-in; those rows are dropped.
    reference = units(finite) @ units(query)
    expected = [i for i in np.argsort(-reference, kind="stable") if i not in nan_rows]
    np.testing.assert_array_equal(vectors.nearest(query, k=10)[0], expected[:10])
    indices, scores = vectors.nearest(query, k=95)
    np.testing.assert_array_equal(indices[:94], expected)  # 94 rows are not nan ...
    assert indices[94] == -1 and np.isnan(scores[94])  # ... so the last slot stays empty.


def test_nearest_on_a_float64_matrix_equals_its_float32_copy(vectors, monkeypatch):
    from keras_embed.ops import _top_k as queries

    monkeypatch.setattr(queries, "COPY_BUDGET", 16 * DIM)  # Converts 16 rows at a time.
    monkeypatch.setattr(queries, "MIN_CHUNK_ROWS", 16)
    wide = Vectors(vectors.words, vectors.matrix.astype(np.float64))
    query_batch = np.random.default_rng(10).normal(size=(2, DIM)).astype(np.float32)
    np.testing.assert_array_equal(
        wide.nearest(query_batch, k=5)[0], vectors.nearest(query_batch, k=5)[0]
    )


def test_vectors_refuse_a_repeated_word_naming_both_rows():
    # A plain value class: rows, not file positions (`load` turns these into file errors).
    with pytest.raises(ValueError, match=r"`words` must be unique, but 'b' appears at rows 1 and 3"):
        Vectors(["a", "b", "c", "b"], np.zeros((4, 2), np.float32))
