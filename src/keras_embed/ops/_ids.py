"""The one rule for id and number inputs, applied to every layer and op that takes them (private).

Every id-taking layer runs its ids through `integer_ids`, and every layer checks
the arrays it is called with through `check_call_argument` before keras turns
them into tensors, because that conversion is where wrong answers start: on JAX
without x64 an int64 id of `2**32 + 3` becomes `3`, and numeric strings
(`np.array(["3"])`) are parsed as numbers.
"""

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_whole_numbers
from keras_embed.ops._backend import concrete_value

# Integer dtypes every backend gathers with; narrower ones (uint8 from an image
# pipeline, int16) are widened first, as TensorFlow's gather accepts only these.
_GATHER_DTYPES = ("int32", "int64")


def _dtype_of(name, value, what):
    """The standardized dtype of `value`, or a `ValueError` for None, strings and ragged lists."""
    if value is None:
        raise ValueError(f"`{name}` must be a tensor or array of {what}. Received: {name}=None.")
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except ValueError:
            raise ValueError(
                f"`{name}` must be a rectangular tensor or array of {what}; nested lists "
                f"of unequal lengths have no shape. Received: {name}={value!r:.80}."
            ) from None
    kind = getattr(dtype, "kind", None)
    try:
        standard = None if kind in ("U", "S", "O") else keras.backend.standardize_dtype(dtype)
    except ValueError:
        standard = None
    if standard is None or standard == "string":
        raise ValueError(
            f"`{name}` must hold {what}, but has dtype {dtype}: strings are never parsed "
            "as numbers. Map strings to ids first (e.g. with "
            "`keras_embed.preprocessing.hash_strings`), or convert them with "
            "`np.asarray(..., dtype='int32')` if they are numerals."
        )
    return standard


def _narrowed_dtype(dtype):
    """The dtype this backend makes of `dtype` integers (JAX without x64: int64 -> int32)."""
    if dtype in ("int64", "uint64", "uint32"):
        return keras.backend.standardize_dtype(ops.convert_to_tensor(np.zeros((0,), dtype)).dtype)
    return dtype


def check_not_narrowed(name, values, dtype):
    """Raise if a concrete integer in `values` would not survive this backend's tensor conversion."""
    narrowed = _narrowed_dtype(dtype)
    if narrowed == dtype:
        return
    values = concrete_value(values)
    if values is None or values.size == 0:
        return
    info = np.iinfo(narrowed)
    outside = (values < info.min) | (values > info.max)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"`{name}` holds {int(values[where])} at index {where}, which does not fit the "
            f"{narrowed} tensors this backend makes of {dtype} values (JAX runs with "
            "`jax_enable_x64` off). Pass 64-bit ids to `HashEmbedding(..., id_pairs=True)` "
            "as `keras_embed.preprocessing.split_ids(ids)`, or enable x64."
        )


def check_ids(name, ids):
    """Raise unless `ids` (tensor, array, list) holds ids that convert to tensors exactly.

    Integers pass (64-bit ones only if this backend keeps them, or if every
    known value fits the narrower type). Floats pass when their values are
    unknown (a symbolic input, as keras' `Embedding` casts them) or are all
    whole numbers; float16 and bfloat16 never pass, as they cannot hold every
    id exactly. None, strings, bools and complex numbers raise.

    Returns:
        The standardized dtype of `ids`.
    """
    dtype = _dtype_of(name, ids, "integer ids")
    if "int" in dtype:
        check_not_narrowed(name, ids, dtype)
        return dtype
    if "float" not in dtype:
        raise ValueError(
            f"`{name}` must hold integer ids (or floats holding whole numbers), "
            f"but has dtype {dtype}. Cast them first, e.g. "
            f"`keras.ops.cast({name}, 'int32')`."
        )
    if dtype in ("float16", "bfloat16"):
        # Their ids are already rounded (bfloat16 turns 257 into 256): refuse, never guess.
        raise ValueError(
            f"`{name}` arrived as {dtype}, which cannot hold every id exactly "
            "(in bfloat16, 257 becomes 256). A `keras.Sequential` without an "
            "`Input` builds on the compute dtype of a mixed-precision policy; "
            "start the model with `keras.Input(shape=..., dtype='int32')`."
        )
    values = concrete_value(ids)
    if values is not None:
        check_whole_numbers(name, values)
    return dtype


def integer_ids(name, inputs):
    """`inputs` as an integer tensor, or a `ValueError` saying why it cannot be one.

    The rules are `check_ids`'s. Whole-number floats are cast to int32 as
    keras' `Embedding` does; int32 and int64 keep their dtype (unless the
    backend narrows int64, after `check_ids` made sure no value changes);
    narrower integers (uint8, int16) are widened to int32, since TensorFlow
    gathers only with int32 or int64.

    Args:
        name: the argument name quoted in errors.
        inputs: ids of any shape: a tensor, numpy array or nested list.

    Returns:
        An integer tensor of the shape of `inputs`.
    """
    dtype = check_ids(name, inputs)
    if "float" in dtype or dtype not in _GATHER_DTYPES + ("uint32", "uint64"):
        return ops.cast(inputs, "int32")
    if dtype.startswith("uint"):
        return ops.cast(inputs, "int64")
    return ops.convert_to_tensor(inputs)


def check_numbers(name, values, what="numbers"):
    """Raise unless `values` holds real numbers that convert to tensors exactly.

    For number arguments that are not ids (weights, angle positions): None,
    strings, bools and complex numbers raise, and so do 64-bit integers this
    backend would truncate.

    Returns:
        The standardized dtype of `values`.
    """
    dtype = _dtype_of(name, values, what)
    if "int" in dtype:
        check_not_narrowed(name, values, dtype)
    elif "float" not in dtype:
        raise ValueError(
            f"`{name}` must hold integer or float {what}. Received dtype {dtype}."
        )
    return dtype


def check_call_argument(name, value, kind, required):
    """`value` as a layer may receive it, checked before keras converts it to a tensor.

    Backend and symbolic tensors pass unchecked (the layer's `call` checks
    them). Arrays, lists and scalars are checked by the rule of `kind`:
    `"ids"` by `check_ids`, any other kind (`"numbers"`, `"positions"`: the
    word errors use for the values) by `check_numbers`; lists come back as
    numpy arrays, so that keras accepts them as positional tensors. `None`
    passes unless the argument is `required`.
    """
    if value is None and not required:
        return None
    if value is not None and (ops.is_tensor(value) or keras.backend.is_keras_tensor(value)):
        return value
    if isinstance(value, (list, tuple)) or value is None or isinstance(value, (str, bytes)) or (
        hasattr(value, "__array__")
    ):
        if kind == "ids":
            check_ids(name, value)
        else:
            check_numbers(name, value, kind)
    return np.asarray(value) if isinstance(value, (list, tuple)) else value
