"""Pre-trained word vectors in and out: word2vec, GloVe, fastText, native.

`load` reads a file into `Vectors` (words, matrix, index, similarity queries);
`save` writes one; `align_vectors` aligns them to a vocabulary and
`embedding_from_vectors` (which is `ReversibleEmbedding.from_vectors`) builds
an embedding layer from them with a `Coverage` report; `from_layer` turns a
layer's table back into `Vectors`.
"""

from keras_embed.layers.reversible_embedding import ReversibleEmbedding
from keras_embed.layers.semi_frozen_reversible_embedding import SemiFrozenReversibleEmbedding
from keras_embed.vectors._io import VectorsFileError
from keras_embed.vectors.alignment import MISSING_INITIALIZERS, Coverage, align_vectors, from_layer
from keras_embed.vectors.fasttext_bin import FastTextSubwords
from keras_embed.vectors.formats import FORMATS, save, sniff_format
from keras_embed.vectors.loading import load
from keras_embed.vectors.vectors import Vectors

embedding_from_vectors = ReversibleEmbedding.from_vectors

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
