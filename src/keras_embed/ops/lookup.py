"""Gathers with one defined answer for every index, valid or not."""

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_whole_numbers
from keras_embed.ops._backend import concrete_value, take, take_or_zeros


def as_integer_ids(name, x):
    """`x` as integer ids, cast to int32 when it arrives as floats.

    keras' own `Embedding` casts whatever arrives, and a `keras.Sequential`
    without an `Input` builds on a float32 symbolic input, so float ids must
    be accepted. Integer tensors pass unchanged. Float tensors whose values
    are unknown (symbolic, traced) are cast to int32 as keras does; concrete
    ones are cast only when every value is a whole number, and otherwise the
    first fractional (or non-finite) value raises. float16 / bfloat16 ids
    and other dtypes (bool, strings, complex) raise.

    Args:
        name: the argument name quoted in errors.
        x: ids of any shape: a tensor, numpy array or nested list.

    Returns:
        `x` itself when it holds integers, else an int32 tensor.
    """
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    dtype = keras.backend.standardize_dtype(dtype)
    if "int" in dtype:
        return x
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
    values = concrete_value(x)
    if values is not None:
        check_whole_numbers(name, values)
    return ops.cast(x, "int32")


def check_index_range(name, values, upper, what):
    """Raise if concrete `values` leave `[0, upper)`; a no-op for symbolic ones."""
    values = concrete_value(values)
    if values is None or values.size == 0:
        return
    bad = (values < 0) | (values >= upper)
    if bad.any():
        offending = values[bad].flat[0]
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` holds {int(offending)} at index {where}, outside the "
            f"valid range [0, {upper}) of {what}."
        )


def lookup_rows(table, ids, name="inputs", what=None, batch_dims=0):
    """Gather `table[ids]` along axis `batch_dims`, rejecting or zeroing ids out of range.

    Keras' own `ops.take` returns a NaN row on JAX for `id >= rows` and wraps
    negative ids to rows counted from the end on every backend. Here:

    - when the ids are concrete (eager calls, numpy inputs) any id outside
      `[0, rows)` raises a `ValueError` naming it and the valid range;
    - when they are symbolic (inside `jit`, `tf.function`, a compiled
      `model.fit` step), values cannot be checked, so every id outside
      `[0, rows)` gathers an all-zero row: never NaN, never another row.

    Args:
        table: tensor of shape `(rows, ...)`, or `(batch, rows, d)` when
            `batch_dims=1`.
        ids: integer tensor of any shape, or `(batch, m)` when `batch_dims=1`
            (each batch row indexes its own table).
        name: the argument name quoted in errors.
        what: what the rows are, quoted in errors (e.g. "the vocabulary").
        batch_dims: 0, or 1 for a gather per batch row.

    Returns:
        Tensor of shape `ids.shape + table.shape[1:]` (`(batch, m, d)` when
        `batch_dims=1`), dtype of `table`.
    """
    rows = table.shape[batch_dims]
    values = concrete_value(ids)
    if values is not None and isinstance(rows, int):
        check_index_range(name, values, rows, what or f"a table of {rows} rows")
        return take(table, ids, batch_dims)
    return take_or_zeros(table, ids, batch_dims)


def lookup_dequantized_rows(dequantized_rows, ids, rows, name="inputs", what=None):
    """`dequantized_rows(ids)` with the id rules of `lookup_rows`.

    For quantised tables, whose rows are assembled from several variables
    (values, scales, zero points) by `dequantized_rows`, a function of valid
    ids `(...) -> (..., d)`. Concrete ids outside `[0, rows)` raise; symbolic
    ones give all-zero rows.
    """
    values = concrete_value(ids)
    if values is not None:
        check_index_range(name, values, rows, what or f"a table of {rows} rows")
        return dequantized_rows(ids)
    valid = ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, rows))
    embedded = dequantized_rows(ops.where(valid, ids, ops.zeros_like(ids)))
    return ops.where(ops.expand_dims(valid, -1), embedded, ops.zeros_like(embedded))
