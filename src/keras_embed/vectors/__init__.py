"""Pre-trained word vectors in and out: word2vec, GloVe, fastText, native.

`load` reads a file into `Vectors` (words, matrix, index, similarity queries);
`save` writes one; `align_vectors` aligns them to a vocabulary (what
`keras_embed.layers.ReversibleEmbedding.from_vectors` builds a layer from, with
a `Coverage` report); `from_layer` turns a layer's table back into `Vectors`.
The layers use this package; it never imports them.
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
}

# Layer names this package exported until 0.1, and where they live now.
_MOVED_TO_LAYERS = {
    "SemiFrozenReversibleEmbedding": "keras_embed.layers.SemiFrozenReversibleEmbedding",
    "embedding_from_vectors": "keras_embed.layers.ReversibleEmbedding.from_vectors",
}


def __getattr__(name):
    if name in _KERAS_NAMES:
        return getattr(importlib.import_module(_KERAS_NAMES[name]), name)
    if name in _MOVED_TO_LAYERS:
        raise AttributeError(
            f"`keras_embed.vectors.{name}` moved to `{_MOVED_TO_LAYERS[name]}`: the layers "
            "use the vectors package, which no longer imports them."
        )
    raise AttributeError(f"module 'keras_embed.vectors' has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "MISSING_INITIALIZERS",
    "Coverage",
    "FastTextSubwords",
    "Vectors",
    "VectorsFileError",
    "align_vectors",
    "from_layer",
    "load",
    "save",
    "sniff_format",
]
