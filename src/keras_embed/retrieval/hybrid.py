"""Lexical ranking (BM25) and reciprocal rank fusion of several rankings (numpy only)."""

import collections
import math

import numpy as np

from keras_embed._validation import check_number, check_positive_int


class BM25:
    """Okapi BM25 over documents given as token lists (Robertson and Zaragoza, 2009).

    `score(d, q) = sum_t idf(t) * f(t, d) * (k1 + 1) / (f(t, d) + k1 * (1 - b + b * |d| / avgdl))`
    with Lucene's `idf(t) = log(1 + (N - n_t + 0.5) / (n_t + 0.5))`.

    Args:
        documents: list of token lists.
        k1: term-frequency saturation.
        b: length normalisation.

    Example:

    >>> bm25 = BM25([["red", "apple"], ["green", "pear"], ["red", "car"]])
    >>> bm25.search(["red", "apple"], k=2)[1].tolist()
    [0, 2]
    """

    def __init__(self, documents, k1=1.5, b=0.75):
        self.k1 = check_number("k1", k1, sign="non-negative", finite=True)
        self.b = check_number("b", b, sign="non-negative", finite=True)
        self.counts = [collections.Counter(tokens) for tokens in documents]
        if not self.counts:
            raise ValueError("`documents` must hold at least one document. Received: an empty list.")
        self.lengths = np.array([len(tokens) for tokens in documents], dtype=np.float64)
        self.average_length = max(self.lengths.mean(), 1e-12)
        frequency = collections.Counter(term for counts in self.counts for term in counts)
        total = len(self.counts)
        self.idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}

    def scores(self, query_tokens):
        """`(documents,)` BM25 score of every document for one query."""
        scores = np.zeros(len(self.counts))
        norms = self.k1 * (1 - self.b + self.b * self.lengths / self.average_length)
        for term in set(query_tokens):
            if term not in self.idf:
                continue
            frequencies = np.array([counts.get(term, 0) for counts in self.counts], dtype=np.float64)
            scores += self.idf[term] * frequencies * (self.k1 + 1) / (frequencies + norms)
        return scores

    def search(self, query_tokens, k):
        """`(scores, document ids)` of the `k` best documents, ties by document order."""
        k = check_positive_int("k", k)
        scores = self.scores(query_tokens)
        order = np.lexsort((np.arange(scores.size), -scores))[:k]
        return scores[order], order


def reciprocal_rank_fusion(rankings, k=60, top=None):
    """Fuse rankings by `score(d) = sum_r 1 / (k + rank_r(d))`, ranks from 1 (Cormack et al., 2009).

    Args:
        rankings: list of id sequences, each best first (an id missing from a ranking adds nothing).
        k: the constant damping the top ranks (60 in the paper).
        top: keep only the best `top` ids (default: all).

    Returns:
        `(scores, ids)` as numpy arrays, best first; ties go to the id first
        seen in the earliest ranking.

    Example:

    >>> reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=1)[1].tolist()
    [1, 3, 2]
    """
    k = check_number("k", k, sign="non-negative", finite=True)
    fused = {}
    for ranking in rankings:
        for rank, item in enumerate(np.asarray(ranking).tolist(), start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    items = list(fused)  # Insertion order: first seen first.
    scores = np.array([fused[item] for item in items])
    order = np.lexsort((np.arange(len(items)), -scores))
    if top is not None:
        order = order[: check_positive_int("top", top)]
    return scores[order], np.array(items)[order]
