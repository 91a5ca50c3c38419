"""keras-embed: embedding layers for Keras 3 on JAX, PyTorch and TensorFlow."""

import importlib

__version__ = "0.1.0"

# Imported on first use, so that `keras-embed --help` and the vector-file
# tools start without loading Keras and a deep-learning backend.
_SUBMODULES = (
    "distribution",
    "layers",
    "losses",
    "models",
    "ops",
    "optimizers",
    "preprocessing",
    "retrieval",
    "vectors",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_embed.{name}")
    raise AttributeError(f"module 'keras_embed' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
