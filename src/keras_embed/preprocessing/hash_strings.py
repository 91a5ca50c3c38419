"""Strings to stable 64-bit ids, and 64-bit ids to int32 pairs, for `HashEmbedding`."""

import hashlib

import numpy as np

from keras_embed._validation import check_integer

_SEED_BYTES = 16  # BLAKE2b's salt length.


def hash_strings(strings, seed=0):
    """Stable signed 64-bit ids of strings: the same on every run and machine.

    Each string is encoded as UTF-8 and hashed with BLAKE2b (`hashlib.blake2b`,
    RFC 7693) with an 8-byte digest and the `seed` as its salt (16 bytes,
    little-endian); the digest read as a little-endian signed int64 is the id.
    Python's own `hash()` changes from run to run; this does not, so text and
    categorical columns can go through `keras_embed.layers.HashEmbedding`
    without a vocabulary.

    In a `tf.data` pipeline, pass a string tensor: the hashing runs through
    `tf.numpy_function` and gives the same ids as numpy.

    Args:
        strings: a `str`, a (nested) list or numpy array of `str` or `bytes`
            (bytes are hashed as they are), or a TensorFlow string tensor.
        seed: int in `[0, 2**64)`. A different seed gives unrelated ids.

    Returns:
        int64 numpy array of the shape of `strings` (a TensorFlow int64
        tensor for a TensorFlow input).

    Example:

    >>> hash_strings(["cat", "dog"]).dtype
    dtype('int64')
    >>> int(hash_strings("cat")) == int(hash_strings(["cat"])[0])
    True
    >>> bool(hash_strings("cat", seed=1) != hash_strings("cat"))
    True
    """
    check_integer("seed", seed, minimum=0, maximum=2**64 - 1, expected="an integer in [0, 2**64)")
    salt = int(seed).to_bytes(_SEED_BYTES, "little")
    if type(strings).__module__.startswith("tensorflow"):
        import tensorflow as tf

        ids = tf.numpy_function(lambda values: _hash_array(values, salt), [strings], tf.int64)
        return tf.ensure_shape(ids, strings.shape)
    return _hash_array(strings, salt)


def _hash_array(strings, salt):
    array = np.asarray(strings, dtype=object)
    flat = array.reshape(-1)
    ids = np.empty(flat.size, dtype=np.int64)
    for index, value in enumerate(flat):
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif not isinstance(value, bytes):
            raise ValueError(
                "`strings` must hold str or bytes values. Received: "
                f"{value!r} (of type {type(value).__name__}) at flat index {index}."
            )
        digest = hashlib.blake2b(value, digest_size=8, salt=salt).digest()
        ids[index] = int.from_bytes(digest, "little", signed=True)
    return ids.reshape(array.shape)


def split_ids(ids):
    """64-bit ids as int32 pairs `(high 32 bits, low 32 bits)` on a new last axis.

    JAX runs with `jax_enable_x64` off by default and turns int64 arrays into
    int32, dropping the high bits; `HashEmbedding(..., id_pairs=True)` takes
    this form instead and hashes exactly what it would hash for the int64 id.

    Args:
        ids: integer numpy array (or anything `np.asarray` takes) of shape `(...)`.

    Returns:
        int32 numpy array of shape `(..., 2)`; both halves hold the raw bits.

    Example:

    >>> split_ids([2**32 + 5, -1]).tolist()
    [[1, 5], [-1, -1]]
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise ValueError(
            f"`ids` must be an integer array. Received: an array of dtype {ids.dtype}."
        )
    ids = ids.astype(np.int64)
    high = (ids >> 32).astype(np.int32)
    low = (ids & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    return np.stack([high, low], axis=-1)
