"""Backend-neutral math the layers share.

Public names load on first use: the numpy-only leaf modules here (fastText's n-gram
hashing, which the vector-file readers use) must import without Keras or a backend.
"""

import importlib

_PUBLIC = {
    "reverse_cross_entropy": "keras_embed.ops.cross_entropy",
    "multimodal_positions": "keras_embed.ops.multimodal_rope",
}


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_embed.ops' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))
