"""Pre-trained word vectors in and out: word2vec, GloVe, fastText, native.

`load` reads a file into `Vectors` (words, matrix, index, similarity queries);
`save` writes one; `embedding_from_vectors` (also
`ReversibleEmbedding.from_vectors`) builds an aligned embedding layer and a
`Coverage` report; `from_layer` turns a layer's table back into `Vectors`.
"""

from keras_embed.vectors._io import VectorsFileError
from keras_embed.vectors.fasttext_bin import FastTextSubwords
from keras_embed.vectors.formats import FORMATS, load, save, sniff_format
from keras_embed.vectors.layers import (
    MISSING_INITIALIZERS,
    Coverage,
    SemiFrozenReversibleEmbedding,
    align_vectors,
    embedding_from_vectors,
    from_layer,
)
from keras_embed.vectors.vectors import Vectors

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
