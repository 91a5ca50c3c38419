"""Exact top-k by blocked matrix products: the kernel of `Index` and `Vectors` (numpy only).

Each step scores a block of candidate rows against a group of queries with one
float32 matrix product and merges the few scores that can still enter the top
k, so memory stays bounded by the block, however many candidates there are.
"""

import numpy as np

SCORE_BUDGET = 1 << 22  # Floats of (queries, rows) scores held at once (16 MB).
COPY_BUDGET = 1 << 24  # Floats of a non-float32 block converted at once (64 MB).
MIN_CHUNK_ROWS = 1 << 14
BUCKET_ROWS = 256  # Scores per bucket whose maximum bounds the k-th best from below.


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


def _lower_bound_of_kth(scores, keep):
    """`(q,)` a value that at least `keep` scores of each row reach.

    The `keep`-th largest of the maxima of `keep` or more disjoint buckets is
    reached by those `keep` maxima, so it never exceeds the `keep`-th best
    score; comparing against it leaves a few candidates instead of sorting.
    """
    count, width = scores.shape
    # Narrower buckets when `keep` is large, so that there are at least `keep` of them.
    bucket_rows = min(BUCKET_ROWS, width // (2 * keep))
    if bucket_rows < 1:
        return np.full(count, -np.inf, dtype=np.float32)
    buckets = width // bucket_rows
    maxima = scores[:, : buckets * bucket_rows].reshape(count, buckets, bucket_rows).max(axis=2)
    maxima[np.isnan(maxima)] = -np.inf  # A nan row must not lift the bound.
    return np.partition(maxima, buckets - keep, axis=1)[:, buckets - keep]  # (q,)


def top_k(queries, matrix, safe_row_norms, k, rows=None, exclude=None, products=None, block_rows=None):
    """Exact top-`k` rows by inner product (or cosine, given row norms) for each query.

    Each step scores a block of rows with one float32 matrix product, keeps
    only the scores that reach both the running `k`-th best and a cheap lower
    bound of the block's `k`-th best, and merges those few candidates.

    Args:
        queries: `(q, dim)` float32 unit vectors.
        matrix: `(count, dim)` array (may be memory-mapped).
        safe_row_norms: `(count,)` row norms, inf for zero rows (`safe_norms`),
            which scores are divided by; None ranks by plain inner product.
        k: neighbours per query.
        rows: search only the first `rows` rows.
        exclude: optional list (one per query) of row ids to leave out.
        products: optional `products(queries, start, stop)` giving the
            `(q, stop - start)` float32 scores of rows `start:stop` (default:
            float32 matrix products with `matrix`; `queries` are then cast to
            float32).
        block_rows: rows scored per step (default: from the score budget).

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
                products,
                block_rows,
            )
            for first in range(0, count, group)
        ]
        return tuple(np.concatenate(parts) for parts in zip(*found))
    if products is None:
        queries = np.asarray(queries, dtype=np.float32)

        def products(queries, start, stop):
            return queries @ _float32_rows(matrix, start, stop).T

    query_ids = np.arange(count)
    # The best candidates so far, flat and sorted by (query, -score, row).
    best_queries = np.empty(0, dtype=np.int64)
    best_rows = np.empty(0, dtype=np.int64)
    best_scores = np.empty(0, dtype=np.float32)
    threshold = np.full(count, -np.inf, dtype=np.float32)  # (q,) running k-th best.
    step = block_rows or _chunk_rows(matrix, count)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        scores = products(queries, start, stop)  # (q, chunk)
        if safe_row_norms is not None:
            np.divide(scores, safe_row_norms[start:stop], out=scores)
        if exclude:
            for query, banned in enumerate(exclude):
                inside = [row - start for row in banned if start <= row < stop]
                scores[query, inside] = -np.inf
        if np.all(threshold > -np.inf):  # Every query holds k: its k-th best bounds the block as well.
            bound = threshold
        else:
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
