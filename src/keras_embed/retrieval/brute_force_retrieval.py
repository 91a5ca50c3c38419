"""`BruteForceRetrieval`: exact top-k over a fixed candidate table, inside a Keras model."""

import keras
from keras import ops

from keras_embed._validation import check_choice, check_positive_int


@keras.saving.register_keras_serializable(package="keras_embed")
class BruteForceRetrieval(keras.layers.Layer):
    """Scores queries against every candidate and returns the top k.

    The candidates live in a non-trainable `(num_candidates, dim)` weight
    (saved with the model); scores are float32 inner products, or cosines
    with `metric="cosine"`. Candidates are scored `block_size` at a time and
    merged into a running top k (a loop inside the graph, under jit too), so
    memory holds `(batch, block_size)` scores, however many candidates there
    are. Equal scores keep the backend's `top_k` order.

    Args:
        num_candidates: number of candidate rows.
        dim: candidate vector size.
        k: neighbours returned per query.
        metric: `"inner_product"` or `"cosine"`.
        candidates: optional `(num_candidates, dim)` initial values (else zeros; `set_candidates` later).
        block_size: candidates scored per step (raised to `k` when smaller).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        queries: `(batch, dim)`.

    Returns:
        `(scores, ids)`: `(batch, k)` float32 scores, best first, and int32 candidate rows.

    Example:

    >>> import numpy as np
    >>> layer = BruteForceRetrieval(3, 2, k=1, candidates=np.eye(3, 2, dtype="float32"))
    >>> scores, ids = layer(np.array([[0.1, 0.9]], "float32"))
    >>> np.asarray(ids).tolist()
    [[1]]
    """

    def __init__(
        self, num_candidates, dim, k=10, metric="inner_product", candidates=None, block_size=32768, **kwargs
    ):
        super().__init__(**kwargs)
        self.num_candidates = check_positive_int("num_candidates", num_candidates)
        self.dim = check_positive_int("dim", dim)
        self.k = check_positive_int("k", k)
        if self.k > self.num_candidates:
            raise ValueError(
                f"`k` must be at most num_candidates={self.num_candidates}. Received: k={self.k}."
            )
        self.metric = check_choice("metric", metric, ("inner_product", "cosine"))
        self.block_size = check_positive_int("block_size", block_size)
        self._initial_candidates = candidates

    def build(self, queries_shape=None):
        if queries_shape is not None and queries_shape[-1] not in (None, self.dim):
            raise ValueError(
                f"`queries` must have {self.dim} features. Received: shape {tuple(queries_shape)}."
            )
        self.candidates = self.add_weight(
            shape=(self.num_candidates, self.dim), initializer="zeros", trainable=False,
            name="candidates", dtype="float32",
        )
        if self._initial_candidates is not None:
            self.set_candidates(self._initial_candidates)
            self._initial_candidates = None

    def set_candidates(self, candidates):
        """Replace the candidate table by a `(num_candidates, dim)` array."""
        shape = tuple(ops.shape(candidates))
        if shape != (self.num_candidates, self.dim):
            raise ValueError(
                f"`candidates` must have shape {(self.num_candidates, self.dim)}. Received: shape {shape}."
            )
        if self.metric == "cosine":
            candidates = _unit(candidates)
        self.candidates.assign(ops.cast(candidates, "float32"))

    def call(self, queries):
        queries = ops.cast(queries, "float32")
        if self.metric == "cosine":
            queries = _unit(queries)
        block = max(self.block_size, self.k)
        full_blocks = self.num_candidates // block
        if full_blocks <= 1:  # One product over every candidate.
            scores, ids = ops.top_k(ops.matmul(queries, ops.transpose(self.candidates)), self.k)
            return scores, ops.cast(ids, "int32")

        table = ops.convert_to_tensor(self.candidates)

        def block_scores(start, rows):
            """`(batch, rows)` scores of candidates `start:start + rows` and their ids."""
            scores = ops.matmul(queries, ops.transpose(ops.slice(table, (start, 0), (rows, self.dim))))
            ids = ops.arange(rows, dtype="int32") + ops.cast(start, "int32")
            return scores, ops.broadcast_to(ids, ops.shape(scores))

        def merged(best, start, rows):
            # Earlier candidates come first, so ties go to them where the backend's top_k is stable.
            scores, ids = block_scores(start, rows)
            scores, order = ops.top_k(ops.concatenate([best[0], scores], axis=1), self.k)
            return scores, ops.take_along_axis(ops.concatenate([best[1], ids], axis=1), order, axis=1)

        scores, ids = ops.top_k(block_scores(0, block)[0], self.k)  # The first block's positions are its ids.
        best = (scores, ops.cast(ids, "int32"))
        best = ops.fori_loop(1, full_blocks, lambda i, best: merged(best, i * block, block), best)
        tail = self.num_candidates - full_blocks * block
        return merged(best, full_blocks * block, tail) if tail else best

    def compute_output_shape(self, queries_shape):
        return (queries_shape[0], self.k), (queries_shape[0], self.k)

    def get_config(self):
        return {
            **super().get_config(),
            "num_candidates": self.num_candidates,
            "dim": self.dim,
            "k": self.k,
            "metric": self.metric,
            "block_size": self.block_size,
        }


def _unit(x):
    x = ops.cast(x, "float32")
    return x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)
