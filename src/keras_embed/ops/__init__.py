"""Backend-neutral math the layers share.

Public names load on first use: the numpy-only leaf modules here (fastText's n-gram
hashing, which the vector-file readers use) must import without Keras or a backend.
"""

from keras_embed._lazy import lazy_exports

_PUBLIC = {
    "reverse_cross_entropy": "keras_embed.ops.cross_entropy",
    "multimodal_positions": "keras_embed.ops.rope.multimodal",
}

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
