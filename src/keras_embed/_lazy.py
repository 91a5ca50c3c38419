"""Public names that a package `__init__` loads on first use (private)."""

import importlib
import sys


def lazy_exports(package, public):
    """`(__getattr__, __dir__)` for `package`, importing `public[name]`'s module when `name` is first read.

    Keeps `keras-embed --help` and the numpy-only modules free of Keras and a
    backend until a name that needs them is used.
    """

    def __getattr__(name):
        if name in public:
            return getattr(importlib.import_module(public[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
