"""Pre-trained word vectors in and out: word2vec, GloVe, fastText, native.

`load` reads a file into `Vectors` (words, matrix, index, similarity queries);
`save` writes one; `align_vectors` aligns them to a vocabulary and
`embedding_from_vectors` (which is `ReversibleEmbedding.from_vectors`) builds
an embedding layer from them with a `Coverage` report; `from_layer` turns a
layer's table back into `Vectors`.
"""

import importlib

from keras_embed.vectors._io import VectorsFileError
from keras_embed.vectors.fasttext_bin import FastTextSubwords
from keras_embed.vectors.formats import FORMATS, save, sniff_format
from keras_embed.vectors.loading import load
from keras_embed.vectors.vectors import Vectors

# These need Keras: imported on first use, so that reading and converting
# files (`keras-embed vectors ...`) loads no deep-learning backend.
_KERAS_NAMES = {
    "MISSING_INITIALIZERS": "keras_embed.vectors.alignment",
    "Coverage": "keras_embed.vectors.alignment",
    "align_vectors": "keras_embed.vectors.alignment",
    "from_layer": "keras_embed.vectors.alignment",
    "SemiFrozenReversibleEmbedding": "keras_embed.layers.semi_frozen_reversible_embedding",
}


def __getattr__(name):
    if name in _KERAS_NAMES:
        return getattr(importlib.import_module(_KERAS_NAMES[name]), name)
    if name == "embedding_from_vectors":
        module = importlib.import_module("keras_embed.layers.reversible_embedding")
        return module.ReversibleEmbedding.from_vectors
    raise AttributeError(f"module 'keras_embed.vectors' has no attribute {name!r}")

__all__ = [
    "FORMATS",
    "MISSING_INITIALIZERS",
    "Coverage",
    "FastTextSubwords",
    "SemiFrozenReversibleEmbedding",
    "Vectors",
    "VectorsFileError",
    "align_vectors",
    "embedding_from_vectors",
    "from_layer",
    "load",
    "save",
    "sniff_format",
]
