"""`BruteForceRetrieval`: exact top-k over a fixed candidate table, inside a Keras model."""

import keras
from keras import ops

from keras_embed._validation import check_choice, check_positive_int


@keras.saving.register_keras_serializable(package="keras_embed")
class BruteForceRetrieval(keras.layers.Layer):
    """Scores queries against every candidate and returns the top k.

    The candidates live in a non-trainable `(num_candidates, dim)` weight
    (saved with the model); scores are float32 inner products, or cosines
    with `metric="cosine"`. Equal scores keep the backend's `top_k` order.

    Args:
        num_candidates: number of candidate rows.
        dim: candidate vector size.
        k: neighbours returned per query.
        metric: `"inner_product"` or `"cosine"`.
        candidates: optional `(num_candidates, dim)` initial values (else zeros; `set_candidates` later).
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

    def __init__(self, num_candidates, dim, k=10, metric="inner_product", candidates=None, **kwargs):
        super().__init__(**kwargs)
        self.num_candidates = check_positive_int("num_candidates", num_candidates)
        self.dim = check_positive_int("dim", dim)
        self.k = check_positive_int("k", k)
        if self.k > self.num_candidates:
            raise ValueError(
                f"`k` must be at most num_candidates={self.num_candidates}. Received: k={self.k}."
            )
        self.metric = check_choice("metric", metric, ("inner_product", "cosine"))
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
        scores = ops.matmul(queries, ops.transpose(self.candidates))  # (batch, num_candidates)
        return ops.top_k(scores, self.k)

    def compute_output_shape(self, queries_shape):
        return (queries_shape[0], self.k), (queries_shape[0], self.k)

    def get_config(self):
        return {
            **super().get_config(),
            "num_candidates": self.num_candidates,
            "dim": self.dim,
            "k": self.k,
            "metric": self.metric,
        }


def _unit(x):
    x = ops.cast(x, "float32")
    return x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)
