"""BM25 against its formula by hand, and reciprocal rank fusion against hand computation."""

import math

import numpy as np
import pytest

from keras_embed.retrieval import BM25, reciprocal_rank_fusion

pytestmark = pytest.mark.backend_independent


def test_rrf_sums_reciprocal_ranks():
    scores, ids = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    # a: 1/61 + 1/62, c: 1/63 + 1/61, b: 1/62.
    assert ids.tolist() == ["a", "c", "b"]
    np.testing.assert_allclose(scores, [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62])


def test_rrf_breaks_ties_by_first_appearance():
    assert reciprocal_rank_fusion([[1, 2], [2, 1]])[1].tolist() == [1, 2]


def test_bm25_scores_follow_the_okapi_formula():
    documents = [["a", "b", "a"], ["b", "c"], ["c", "c", "c", "d"]]
    bm25 = BM25(documents, k1=1.2, b=0.75)
    average = 3.0
    # Document 0, term "a": n_a = 1 of N = 3, f = 2, |d| = 3.
    idf_a = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    expected = idf_a * 2 * 2.2 / (2 + 1.2 * (1 - 0.75 + 0.75 * 3 / average))
    np.testing.assert_allclose(bm25.scores(["a"]), [expected, 0, 0])


def test_bm25_search_ranks_matching_documents_first():
    bm25 = BM25([["cat", "sat"], ["dog", "ran"], ["cat", "cat", "ran"]])
    assert bm25.search(["cat"], k=2)[1].tolist() == [2, 0]
