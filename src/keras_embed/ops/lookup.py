"""Gathers with one defined answer for every index, valid or not."""

import numpy as np

from keras_embed.ops._backend import concrete_value, take, take_or_zeros


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
