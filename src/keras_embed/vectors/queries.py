"""Similarity queries over a vectors matrix: exact, chunked, optionally faiss.

Scores are cosine similarities `rows @ query / |row|` with the query a unit
vector, computed over blocks of rows so that memory stays bounded however many
rows and queries there are; per-row norms are computed once and cached by the
caller. Semantics follow gensim's `KeyedVectors` (Mikolov et al., 2013 for
3CosAdd; Levy and Goldberg, 2014 for 3CosMul).
"""

import numbers

import numpy as np

from keras_embed._validation import check_integer, describe, is_number
from keras_embed.ops._top_k import _chunk_rows, _float32_rows, top_k  # noqa: F401 (top_k: the shared kernel)

COSMUL_EPSILON = 1e-6  # gensim's guard against dividing by a zero product.


def row_norms(matrix, chunk_rows=1 << 16):
    """`(rows,)` float32 Euclidean norms, computed a block at a time."""
    norms = np.empty(matrix.shape[0], dtype=np.float32)
    for start in range(0, matrix.shape[0], chunk_rows):
        block = np.asarray(matrix[start : start + chunk_rows], dtype=np.float32)
        norms[start : start + chunk_rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return norms


def safe_norms(norms):
    """`norms` with zeros replaced by inf, so that zero rows score 0, not nan."""
    return np.where(norms > 0, norms, np.inf).astype(np.float32)


def unit(vector):
    """`vector / |vector|` in float32; a zero vector stays zero."""
    vector = np.asarray(vector, dtype=np.float32)
    norm = np.linalg.norm(vector, axis=-1, keepdims=True)
    return vector / np.where(norm > 0, norm, 1)


def check_topn(topn, allow_none=True):
    return check_integer("topn", topn, minimum=0, allow_none=allow_none)


def check_row_limit(name, value, count):
    """`restrict_vocab`-style limits: None for all rows, else 1..count."""
    if value is None:
        return count
    return min(check_integer(name, value, minimum=1, allow_none=True), count)


def all_scores(matrix, safe_row_norms, query, rows):
    """`(rows,)` cosine similarity of the first `rows` rows with a unit `query`."""
    scores = np.empty(rows, dtype=np.float32)
    step = _chunk_rows(matrix, 1)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        np.matmul(_float32_rows(matrix, start, stop), query, out=scores[start:stop])
        np.divide(scores[start:stop], safe_row_norms[start:stop], out=scores[start:stop])
    return scores


def faiss_top_k(index_cache, matrix, safe_row_norms, queries, k, rows):
    """Top-`k` by inner product of unit vectors with a faiss flat index (exact)."""
    try:
        import faiss
    except ImportError:
        raise ImportError(
            "method='faiss' needs the faiss package: `pip install faiss-cpu`."
        ) from None
    index = index_cache.get(rows)
    if index is None:
        index = faiss.IndexFlatIP(matrix.shape[1])
        step = _chunk_rows(matrix, 1)
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            block = _float32_rows(matrix, start, stop)
            index.add(np.ascontiguousarray(block / safe_row_norms[start:stop, None]))
        index_cache.clear()
        index_cache[rows] = index
    scores, indices = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, rows))
    return indices.astype(np.int64), scores


def weighted_terms(positive, negative):
    """gensim's argument forms as `[(key, weight)]`: a lone key or vector is a
    one-item list; `(key, weight)` pairs set weights (defaults +1 / -1)."""
    terms = []
    for items, default in ((positive, 1.0), (negative, -1.0)):
        if items is None:
            continue
        if isinstance(items, (str, np.ndarray)) or _is_weighted_pair(items):
            items = [items]
        for item in items:
            if _is_weighted_pair(item):
                terms.append((item[0], float(item[1])))
            else:
                terms.append((item, default))
    return terms


def _is_weighted_pair(item):
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and is_number(item[1])
        and isinstance(item[0], (str, np.ndarray, numbers.Integral))
    )


def mean_of_terms(terms, vector_of):
    """3CosAdd's query: weighted mean of unit word vectors (raw arrays as given),
    divided by the total absolute weight and normalised (gensim's
    `get_mean_vector(pre_normalize=True, post_normalize=True)`)."""
    if not terms:
        raise ValueError("`positive` and `negative` are both empty: nothing to compare with.")
    total = None
    weight_sum = 0.0
    for key, weight in terms:
        vector = np.asarray(key, dtype=np.float32) if isinstance(key, np.ndarray) else unit(vector_of(key))
        total = weight * vector if total is None else total + weight * vector
        weight_sum += abs(weight)
    if weight_sum > 0:
        total = total / weight_sum
    return unit(total)
