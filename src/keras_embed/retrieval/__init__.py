"""Nearest-neighbour search over embeddings: exact and quantised `Index`, a Keras layer, BM25 fusion.

Public names load on first use: `Index`, `BM25` and `reciprocal_rank_fusion`
are numpy only; `BruteForceRetrieval` loads Keras.
"""

import importlib

_PUBLIC = {
    "Index": "keras_embed.retrieval.index",
    "BM25": "keras_embed.retrieval.hybrid",
    "reciprocal_rank_fusion": "keras_embed.retrieval.hybrid",
    "BruteForceRetrieval": "keras_embed.retrieval.brute_force_retrieval",
}


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_embed.retrieval' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))
