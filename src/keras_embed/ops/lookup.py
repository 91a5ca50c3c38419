"""Gathers with one defined answer for every index, valid or not."""

import numpy as np
from keras import ops

from keras_embed.ops._backend import concrete_value, scatter_rows_in_place, take, take_or_zeros


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


def lookup_rows(table, ids, name="inputs", what=None, batch_dims=0, rows=None):
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
        rows: the number of valid rows, when `table` holds more (a table
            stored padded for sharding). Defaults to `table.shape[0]`.

    Returns:
        Tensor of shape `ids.shape + table.shape[1:]` (`(batch, m, d)` when
        `batch_dims=1`), dtype of `table`.
    """
    stored_rows = table.shape[batch_dims]
    rows = stored_rows if rows is None else rows
    values = concrete_value(ids)
    if values is not None and isinstance(rows, int):
        check_index_range(name, values, rows, what or f"a table of {rows} rows")
        return take(table, ids, batch_dims)
    if rows != stored_rows:
        # Ids into the padding rows go past the table, where they gather zeros.
        ids = ops.where(ops.less(ids, rows), ids, ops.full_like(ids, stored_rows))
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


# torch's `embedding_renorm_` adds this to the norm before dividing by it.
RENORM_EPSILON = 1e-7


def row_norms(rows, norm_type):
    """The `norm_type`-norm of each row: `(..., d)` -> `(..., 1)`, in float32."""
    rows = ops.cast(rows, "float32")
    if norm_type == float("inf"):
        return ops.max(ops.abs(rows), axis=-1, keepdims=True)
    if norm_type == 2.0:
        return ops.sqrt(ops.sum(ops.square(rows), axis=-1, keepdims=True))
    if norm_type == 1.0:
        return ops.sum(ops.abs(rows), axis=-1, keepdims=True)
    powered = ops.sum(ops.power(ops.abs(rows), norm_type), axis=-1, keepdims=True)
    return ops.power(powered, 1.0 / norm_type)


def renormalize_rows(rows, max_norm, norm_type=2.0):
    """Rows scaled down to norm at most `max_norm`, by torch's rule.

    A row whose `norm_type`-norm exceeds `max_norm` is multiplied by
    `max_norm / (norm + 1e-7)`; other rows are unchanged (torch's
    `embedding_renorm_`). The factor is a constant for differentiation: the
    gradient reaching `rows` is the incoming gradient, as in torch, where the
    renormalisation happens in place before the lookup.

    Args:
        rows: float tensor of shape `(..., d)`.
        max_norm: positive number.
        norm_type: the `p` of the p-norm (`float("inf")` for the max norm).

    Returns:
        Tensor of the shape and dtype of `rows`.
    """
    norms = row_norms(rows, norm_type)
    factors = ops.where(
        ops.greater(norms, max_norm),
        ops.divide(max_norm, ops.add(norms, RENORM_EPSILON)),
        ops.ones_like(norms),
    )
    scaled = ops.cast(ops.multiply(ops.cast(rows, "float32"), factors), rows.dtype)
    return ops.add(rows, ops.stop_gradient(ops.subtract(scaled, rows)))


def id_frequencies(ids):
    """How often each position's id occurs among all `ids`: same shape, float32.

    Sorting and two binary searches keep this independent of the table size.
    """
    flat = ops.reshape(ids, (-1,))
    ordered = ops.sort(flat)
    counts = ops.subtract(
        ops.searchsorted(ordered, flat, side="right"),
        ops.searchsorted(ordered, flat, side="left"),
    )
    return ops.reshape(ops.cast(counts, "float32"), ops.shape(ids))


def scale_gradient(values, factors):
    """`values` unchanged forward, with the gradient multiplied by `factors` (broadcast)."""
    scaled = ops.multiply(values, ops.cast(factors, values.dtype))
    return ops.add(scaled, ops.stop_gradient(ops.subtract(values, scaled)))


def apply_embedding_rules(
    rows, ids, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False
):
    """Apply torch `nn.Embedding`'s padding, renorm and gradient rules to looked-up rows.

    Every table layer passes the rows it gathered for `ids` through here:

    - `max_norm`: each row is renormalised (`renormalize_rows`);
    - `padding_idx`: positions holding it get an all-zero vector and pass no
      gradient to the table;
    - `scale_grad_by_freq`: the gradient reaching row `i` is divided by the
      number of times `i` occurs in `ids`.

    Args:
        rows: float tensor of shape `(..., d)`, the table rows of `ids`.
        ids: integer tensor of shape `(...)`.
        padding_idx: `None` or a non-negative row index.
        max_norm: `None` or a positive number.
        norm_type: the p of the norm `max_norm` bounds.
        scale_grad_by_freq: bool.

    Returns:
        `(outputs, renormalized)`: `outputs` of the shape and dtype of `rows`;
        `renormalized` the renormalised rows before padding is zeroed (what
        torch writes back into its table), or `None` without `max_norm`.
    """
    renormalized = None
    if max_norm is not None:
        rows = renormalized = renormalize_rows(rows, max_norm, norm_type)
    if padding_idx is not None:
        keep = ops.expand_dims(ops.not_equal(ids, padding_idx), -1)
        rows = ops.where(keep, rows, ops.zeros_like(rows))
    if scale_grad_by_freq:
        rows = scale_gradient(rows, ops.expand_dims(1.0 / id_frequencies(ids), -1))
    return rows, renormalized


def assign_rows(variable, ids, rows):
    """Write `rows` into `variable[ids]` in place; ids outside the table are skipped.

    Equal ids must come with equal rows (the write order is unspecified).
    On torch and TensorFlow the variable's storage is updated in place; on JAX
    (immutable arrays) the variable is assigned a copy with the rows replaced,
    which inside a stateless call (`model.fit`) is recorded like any other
    assignment.

    Args:
        variable: a `keras.Variable` of shape `(rows, d)`.
        ids: integer tensor of shape `(...)`.
        rows: tensor of shape `(..., d)`.
    """
    width = variable.shape[1]
    ids = ops.reshape(ids, (-1,))
    rows = ops.cast(ops.reshape(rows, (-1, width)), variable.dtype)
    scatter_rows_in_place(variable, ids, rows, checked=concrete_value(ids) is not None)
