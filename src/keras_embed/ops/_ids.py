"""Id inputs of the compact tables: integers pass, whole-number floats are cast (private)."""

import keras
import numpy as np
from keras import ops

from keras_embed.ops._backend import concrete_value


def integer_ids(name, inputs):
    """`inputs` as an integer tensor, or a `ValueError` saying why it cannot be one.

    Integer tensors pass unchanged (int64 stays int64). Float tensors are cast
    to int32, as `keras.layers.Embedding` does, because `keras.Sequential`
    without an `Input` builds on a float symbolic input; when their values are
    known they must be whole numbers of magnitude at most 2**24 (above that,
    float32 no longer holds every integer). Strings, booleans and complex
    numbers are refused, and so are float16 and bfloat16 ids (what
    `keras.Sequential` without an `Input` feeds under a mixed policy): they
    have already lost every id above 256 or 2048.
    """
    dtype = getattr(inputs, "dtype", None)
    if dtype is None:
        inputs = np.asarray(inputs)
        dtype = inputs.dtype
    try:
        dtype = keras.backend.standardize_dtype(dtype)
    except ValueError:
        dtype = str(dtype)
    if "int" in dtype and dtype != "bool":
        tensor = ops.convert_to_tensor(inputs)
        if keras.backend.standardize_dtype(tensor.dtype) != dtype:
            _check_not_narrowed(name, inputs, dtype, tensor.dtype)
        return tensor
    if "float" not in dtype:
        raise ValueError(
            f"`{name}` must hold integer ids, but has dtype {dtype}. Map strings to "
            "ids first (e.g. with `keras_embed.preprocessing.hash_strings`)."
        )
    if dtype in ("bfloat16", "float16"):
        # keras.Sequential without an Input feeds ids in the compute dtype of a mixed
        # policy; bfloat16 holds integers exactly only up to 256, so ids already collided.
        raise ValueError(
            f"`{name}` arrived as {dtype}, which cannot hold integer ids exactly (id 257 "
            "becomes 256). Under a mixed dtype policy give the model an integer input, "
            "e.g. `keras.Sequential([keras.Input(shape, dtype='int32'), ...])`."
        )
    values = concrete_value(inputs)
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2**24)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"`{name}` must hold integer ids, but holds {float(values[where])!r} at index "
                f"{where} (dtype {dtype}). Pass an integer tensor; float ids are only "
                "accepted when they are whole numbers of magnitude at most 2**24."
            )
    return ops.cast(inputs, "int32")


def _check_not_narrowed(name, inputs, dtype, narrowed_dtype):
    """Raise if converting the ids to a tensor (JAX without x64: int64 -> int32) changed one."""
    values = concrete_value(inputs)
    if values is None:
        return
    info = np.iinfo(keras.backend.standardize_dtype(narrowed_dtype))
    outside = (values < info.min) | (values > info.max)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"`{name}` holds {int(values[where])} at index {where}, which does not fit the "
            f"{keras.backend.standardize_dtype(narrowed_dtype)} tensors this backend made of "
            f"the {dtype} ids (JAX runs with `jax_enable_x64` off). Pass 64-bit ids to "
            "`HashEmbedding(..., id_pairs=True)` as `keras_embed.preprocessing.split_ids(ids)`, "
            "or enable x64."
        )
