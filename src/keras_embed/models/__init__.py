"""Models that learn embeddings: knowledge-graph embeddings, Word2Vec, FastText and GloVe word vectors.

Names load on first use, so that the command line and the numpy-only triple
reader start without Keras or a deep-learning backend.
"""

from keras_embed._lazy import lazy_exports

_PUBLIC = {
    "KnowledgeGraphEmbedding": "keras_embed.models.knowledge_graph_embedding",
    "KGMarginRankingLoss": "keras_embed.models.kg_losses",
    "KGSoftplusLoss": "keras_embed.models.kg_losses",
    "KGSelfAdversarialLoss": "keras_embed.models.kg_losses",
    "evaluate_link_prediction": "keras_embed.models.link_prediction",
    "Triples": "keras_embed.models.triples",
    "load_triples": "keras_embed.models.triples",
    "GloVe": "keras_embed.models.glove",
    "GloVeAdagrad": "keras_embed.models.glove",
    "GloVeLoss": "keras_embed.models.glove",
    "Cooccurrences": "keras_embed.models.cooccurrence",
    "Word2Vec": "keras_embed.models.word2vec",
    "FastText": "keras_embed.models.fast_text",
}

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


__all__ = sorted(_PUBLIC)
