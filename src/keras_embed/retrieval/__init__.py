"""Nearest-neighbour search over embeddings: exact and quantised `Index`, a Keras layer, BM25 fusion.

Public names load on first use: `Index`, `BM25` and `reciprocal_rank_fusion`
are numpy only; `BruteForceRetrieval` loads Keras.
"""

from keras_embed._lazy import lazy_exports

_PUBLIC = {
    "Index": "keras_embed.retrieval.index",
    "BM25": "keras_embed.retrieval.hybrid",
    "reciprocal_rank_fusion": "keras_embed.retrieval.hybrid",
    "BruteForceRetrieval": "keras_embed.retrieval.brute_force_retrieval",
}

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
