"""Similarity queries over a vectors matrix: exact, chunked, optionally faiss.

Scores are cosine similarities `rows @ query / |row|` with the query a unit
vector, computed over blocks of rows so that memory stays bounded however many
rows and queries there are; per-row norms are computed once and cached by the
caller. Semantics follow gensim's `KeyedVectors` (Mikolov et al., 2013 for
3CosAdd; Levy and Goldberg, 2014 for 3CosMul).
"""

import numbers

import numpy as np

from keras_embed._validation import describe

SCORE_BUDGET = 1 << 24  # Floats of (queries, rows) scores held at once (64 MB).
MIN_CHUNK_ROWS = 1 << 14
COSMUL_EPSILON = 1e-6  # gensim's guard against dividing by a zero product.


def row_norms(matrix, chunk_rows=1 << 16):
    """`(rows,)` float32 Euclidean norms, computed a block at a time."""
    norms = np.empty(matrix.shape[0], dtype=np.float32)
    for start in range(0, matrix.shape[0], chunk_rows):
        block = np.asarray(matrix[start : start + chunk_rows], dtype=np.float32)
        norms[start : start + chunk_rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return norms


def unit(vector):
    """`vector / |vector|` in float32; a zero vector stays zero."""
    vector = np.asarray(vector, dtype=np.float32)
    norm = np.linalg.norm(vector, axis=-1, keepdims=True)
    return vector / np.where(norm > 0, norm, 1)


def check_topn(topn, allow_none=True):
    if topn is None and allow_none:
        return None
    if isinstance(topn, bool) or not isinstance(topn, numbers.Integral) or topn < 0:
        raise ValueError(
            f"`topn` must be a non-negative integer or None. Received: topn={describe(topn)}."
        )
    return int(topn)


def check_row_limit(name, value, count):
    """`restrict_vocab`-style limits: None for all rows, else 1..count."""
    if value is None:
        return count
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer or None. Received: {name}={describe(value)}."
        )
    return min(int(value), count)


def _chunk_rows(queries):
    return max(MIN_CHUNK_ROWS, SCORE_BUDGET // max(queries, 1))


def _safe_norms(norms):
    """Zero-norm rows score 0 instead of nan."""
    return np.where(norms > 0, norms, np.inf).astype(np.float32)


def all_scores(matrix, norms, query, rows):
    """`(rows,)` cosine similarity of the first `rows` rows with a unit `query`."""
    scores = np.empty(rows, dtype=np.float32)
    step = _chunk_rows(1)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        block = np.asarray(matrix[start:stop], dtype=np.float32)
        np.divide(block @ query, _safe_norms(norms[start:stop]), out=scores[start:stop])
    return scores


def top_k(queries, matrix, norms, k, rows=None, exclude=None):
    """Exact top-`k` rows by cosine similarity for each unit query.

    Args:
        queries: `(q, dim)` float32 unit vectors.
        matrix: `(count, dim)` array (may be memory-mapped).
        norms: `(count,)` row norms.
        k: neighbours per query.
        rows: search only the first `rows` rows.
        exclude: optional list (one per query) of row ids to leave out.

    Returns:
        `(indices, scores)`, each `(q, k')` with `k' = min(k, rows)`, best first.
    """
    rows = matrix.shape[0] if rows is None else rows
    count = queries.shape[0]
    extra = max((len(e) for e in exclude), default=0) if exclude else 0
    keep = min(k + extra, rows)
    best_scores = np.full((count, 0), -np.inf, dtype=np.float32)
    best_indices = np.zeros((count, 0), dtype=np.int64)
    step = _chunk_rows(count)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        block = np.asarray(matrix[start:stop], dtype=np.float32)  # (chunk, dim)
        scores = (queries @ block.T) / _safe_norms(norms[start:stop])  # (q, chunk)
        if scores.shape[1] > keep:
            part = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
            scores = np.take_along_axis(scores, part, axis=1)
        else:
            part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_indices = np.concatenate([best_indices, part + start], axis=1)
        if best_scores.shape[1] > keep:
            part = np.argpartition(-best_scores, keep - 1, axis=1)[:, :keep]
            best_scores = np.take_along_axis(best_scores, part, axis=1)
            best_indices = np.take_along_axis(best_indices, part, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    best_scores = np.take_along_axis(best_scores, order, axis=1)
    best_indices = np.take_along_axis(best_indices, order, axis=1)
    final = min(k, rows)
    if not exclude:
        return best_indices[:, :final], best_scores[:, :final]
    indices = np.zeros((count, final), dtype=np.int64)
    values = np.zeros((count, final), dtype=np.float32)
    for query in range(count):
        banned = set(exclude[query])
        kept = [i for i, index in enumerate(best_indices[query]) if index not in banned][:final]
        indices[query, : len(kept)] = best_indices[query, kept]
        values[query, : len(kept)] = best_scores[query, kept]
    return indices, values


def faiss_top_k(index_cache, matrix, norms, queries, k, rows):
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
        step = _chunk_rows(1)
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            block = np.asarray(matrix[start:stop], dtype=np.float32)
            index.add(np.ascontiguousarray(block / _safe_norms(norms[start:stop])[:, None]))
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
        and isinstance(item[1], numbers.Real)
        and not isinstance(item[1], bool)
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
