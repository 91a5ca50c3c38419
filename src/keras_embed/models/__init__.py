"""Models that learn embeddings: knowledge-graph embeddings.

Names load on first use, so that the command line and the numpy-only triple
reader start without Keras or a deep-learning backend.
"""

import importlib

_PUBLIC = {
    "KnowledgeGraphEmbedding": "keras_embed.models.knowledge_graph_embedding",
    "KGMarginRankingLoss": "keras_embed.models.kg_losses",
    "KGSoftplusLoss": "keras_embed.models.kg_losses",
    "KGSelfAdversarialLoss": "keras_embed.models.kg_losses",
    "evaluate_link_prediction": "keras_embed.models.link_prediction",
    "Triples": "keras_embed.models.triples",
    "load_triples": "keras_embed.models.triples",
}


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_embed.models' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))


__all__ = sorted(_PUBLIC)
