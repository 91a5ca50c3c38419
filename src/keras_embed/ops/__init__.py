"""Backend-neutral math the layers share.

The public functions load lazily, so numpy-only leaf modules here (the fastText
n-gram hashing the vectors readers use) import without loading keras.
"""

_PUBLIC = {
    "reverse_cross_entropy": "keras_embed.ops.cross_entropy",
    "multimodal_positions": "keras_embed.ops.multimodal_rope",
}


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_embed.ops' has no attribute {name!r}")
