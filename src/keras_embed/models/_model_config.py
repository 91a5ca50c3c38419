"""`get_config` of the word-vector models (private): their constructor arguments, vocabulary included."""

import numpy as np


def constructor_config(model, names):
    """`{name: model.name}` for the constructor arguments `names`, in JSON types.

    The vocabulary and its counts (lists or numpy arrays) come back as lists,
    so that a `.keras` file rebuilds the model with its words.
    """
    config = {}
    for name in names:
        value = getattr(model, name)
        config[name] = value.tolist() if isinstance(value, np.ndarray) else value
    return config
