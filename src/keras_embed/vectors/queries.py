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

SCORE_BUDGET = 1 << 22  # Floats of (queries, rows) scores held at once (16 MB).
COPY_BUDGET = 1 << 24  # Floats of a non-float32 block converted at once (64 MB).
MIN_CHUNK_ROWS = 1 << 14
BUCKET_ROWS = 256  # Scores per bucket whose maximum bounds the k-th best from below.
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


def _chunk_rows(matrix, queries):
    """Rows scored per step: bounded by the score block, and by the float32
    copy of the rows when the matrix is not float32 already."""
    rows = SCORE_BUDGET // max(queries, 1)
    if matrix.dtype != np.float32:
        rows = min(rows, COPY_BUDGET // max(matrix.shape[1], 1))
    return max(MIN_CHUNK_ROWS, rows)


def _float32_rows(matrix, start, stop):
    """`(stop - start, dim)` float32 rows; a view when the matrix is float32."""
    return np.asarray(matrix[start:stop], dtype=np.float32)


def all_scores(matrix, safe_row_norms, query, rows):
    """`(rows,)` cosine similarity of the first `rows` rows with a unit `query`."""
    scores = np.empty(rows, dtype=np.float32)
    step = _chunk_rows(matrix, 1)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        np.matmul(_float32_rows(matrix, start, stop), query, out=scores[start:stop])
        np.divide(scores[start:stop], safe_row_norms[start:stop], out=scores[start:stop])
    return scores


def _lower_bound_of_kth(scores, keep):
    """`(q,)` a value that at least `keep` scores of each row reach.

    The `keep`-th largest of the maxima of `keep` or more disjoint buckets is
    reached by those `keep` maxima, so it never exceeds the `keep`-th best
    score; comparing against it leaves a few candidates instead of sorting.
    """
    count, width = scores.shape
    buckets = width // BUCKET_ROWS
    if buckets < keep:
        return np.full(count, -np.inf, dtype=np.float32)
    maxima = scores[:, : buckets * BUCKET_ROWS].reshape(count, buckets, BUCKET_ROWS).max(axis=2)
    maxima[np.isnan(maxima)] = -np.inf  # A nan row must not lift the bound.
    return np.partition(maxima, buckets - keep, axis=1)[:, buckets - keep]  # (q,)


def top_k(queries, matrix, safe_row_norms, k, rows=None, exclude=None):
    """Exact top-`k` rows by cosine similarity for each unit query.

    Each step scores a block of rows with one float32 matrix product, keeps
    only the scores that reach both the running `k`-th best and a cheap lower
    bound of the block's `k`-th best, and merges those few candidates.

    Args:
        queries: `(q, dim)` float32 unit vectors.
        matrix: `(count, dim)` array (may be memory-mapped).
        safe_row_norms: `(count,)` row norms, inf for zero rows (`safe_norms`).
        k: neighbours per query.
        rows: search only the first `rows` rows.
        exclude: optional list (one per query) of row ids to leave out.

    Returns:
        `(indices, scores)`, each `(q, k')` with `k' = min(k, rows)`, best
        first, ties in row order. Slots left without a row (fewer rows than
        `k'` once the excluded ones and nan scores are left out) hold index -1
        and score nan.
    """
    rows = matrix.shape[0] if rows is None else rows
    count = queries.shape[0]
    keep = min(k, rows)
    if keep <= 0:
        return np.zeros((count, 0), dtype=np.int64), np.zeros((count, 0), dtype=np.float32)
    group = max(1, SCORE_BUDGET // MIN_CHUNK_ROWS)
    if count > group:  # Many queries: a group at a time keeps the score block in budget.
        found = [
            top_k(
                queries[first : first + group],
                matrix,
                safe_row_norms,
                k,
                rows,
                exclude[first : first + group] if exclude else None,
            )
            for first in range(0, count, group)
        ]
        return tuple(np.concatenate(parts) for parts in zip(*found))
    queries = np.asarray(queries, dtype=np.float32)
    query_ids = np.arange(count)
    # The best candidates so far, flat and sorted by (query, -score, row).
    best_queries = np.empty(0, dtype=np.int64)
    best_rows = np.empty(0, dtype=np.int64)
    best_scores = np.empty(0, dtype=np.float32)
    threshold = np.full(count, -np.inf, dtype=np.float32)  # (q,) running k-th best.
    step = _chunk_rows(matrix, count)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        scores = queries @ _float32_rows(matrix, start, stop).T  # (q, chunk)
        np.divide(scores, safe_row_norms[start:stop], out=scores)
        if exclude:
            for query, banned in enumerate(exclude):
                inside = [row - start for row in banned if start <= row < stop]
                scores[query, inside] = -np.inf
        bound = np.maximum(threshold, _lower_bound_of_kth(scores, keep))  # (q,)
        # 1-D nonzero is much faster than the 2-D one.
        hits = np.flatnonzero(scores >= bound[:, None])
        hit_queries, hit_columns = np.divmod(hits, stop - start)
        candidate_queries = np.concatenate([best_queries, hit_queries])
        candidate_rows = np.concatenate([best_rows, hit_columns + start])
        candidate_scores = np.concatenate([best_scores, scores.reshape(-1)[hits]])
        order = np.lexsort((candidate_rows, -candidate_scores, candidate_queries))
        sorted_queries = candidate_queries[order]
        rank = np.arange(order.size) - np.searchsorted(sorted_queries, query_ids)[sorted_queries]
        kept = order[rank < keep]
        best_queries = candidate_queries[kept]
        best_rows, best_scores = candidate_rows[kept], candidate_scores[kept]
        full = np.bincount(best_queries, minlength=count) == keep  # (q,)
        last = np.searchsorted(best_queries, query_ids, side="right") - 1
        threshold[full] = best_scores[last[full]]
    indices = np.full((count, keep), -1, dtype=np.int64)
    values = np.full((count, keep), np.nan, dtype=np.float32)
    valid = best_scores > -np.inf  # Excluded rows score -inf.
    slots = np.arange(best_queries.size) - np.searchsorted(best_queries, best_queries)
    indices[best_queries[valid], slots[valid]] = best_rows[valid]
    values[best_queries[valid], slots[valid]] = best_scores[valid]
    return indices, values


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
