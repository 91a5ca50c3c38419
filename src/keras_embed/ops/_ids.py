"""Id inputs of the compact tables: the shared float-id rule, plus 64-bit checks (private)."""

import keras
import numpy as np
from keras import ops

from keras_embed.ops._backend import concrete_value
from keras_embed.ops.lookup import as_integer_ids


def integer_ids(name, inputs):
    """`inputs` as an integer tensor, or a `ValueError` saying why it cannot be one.

    Float ids follow `keras_embed.ops.lookup.as_integer_ids` (whole numbers
    are cast to int32 as keras' `Embedding` does; fractional, float16 and
    bfloat16 ids raise). On top of it: string arrays get a message that
    points to `hash_strings`, and integer ids keep their dtype (int64 stays
    int64) unless the backend narrows them (JAX without x64 turns int64 into
    int32), in which case a known id that does not fit raises instead of
    being truncated.
    """
    dtype = getattr(inputs, "dtype", None)
    if dtype is None:
        inputs = np.asarray(inputs)
        dtype = inputs.dtype
    try:
        dtype = keras.backend.standardize_dtype(dtype)
    except ValueError:
        raise ValueError(
            f"`{name}` must hold integer ids, but has dtype {dtype}. Map strings to "
            "ids first (e.g. with `keras_embed.preprocessing.hash_strings`)."
        ) from None
    if "int" not in dtype:
        return as_integer_ids(name, inputs)
    tensor = ops.convert_to_tensor(inputs)
    if keras.backend.standardize_dtype(tensor.dtype) != dtype:
        _check_not_narrowed(name, inputs, dtype, tensor.dtype)
    return tensor


def _check_not_narrowed(name, inputs, dtype, narrowed_dtype):
    """Raise if converting the ids to a tensor (JAX without x64: int64 -> int32) changed one."""
    values = concrete_value(inputs)
    if values is None:
        return
    narrowed = keras.backend.standardize_dtype(narrowed_dtype)
    info = np.iinfo(narrowed)
    outside = (values < info.min) | (values > info.max)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"`{name}` holds {int(values[where])} at index {where}, which does not fit the "
            f"{narrowed} tensors this backend made of the {dtype} ids (JAX runs with "
            "`jax_enable_x64` off). Pass 64-bit ids to `HashEmbedding(..., id_pairs=True)` "
            "as `keras_embed.preprocessing.split_ids(ids)`, or enable x64."
        )
