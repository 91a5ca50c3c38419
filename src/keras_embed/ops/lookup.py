"""Gathers with one defined answer for every index, valid or not."""

import numpy as np
from keras import ops

from keras_embed.ops._backend import concrete_value
from keras_embed.ops._backend import scatter_rows_in_place
from keras_embed.ops._backend import take
from keras_embed.ops._backend import take_filling_zeros


def in_range(ids, rows):
    """Whether each of `ids` lies in `[0, rows)`: a bool tensor of the shape of `ids`."""
    return ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, rows))


def table_rows(argument, rows):
    """How errors name a table of `rows` rows that the constructor argument `argument` sizes.

    One wording for every table layer, quantised or not:
    `table_rows("input_dim", 20)` is "the table (input_dim=20)".
    """
    return f"the table ({argument}={rows})"


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


def gather_or_zeros(gather, ids, rows):
    """`gather(ids)` where `ids` lie in `[0, rows)`, all-zero rows elsewhere.

    `gather` is a function of in-range ids, `(...) -> (..., d...)`; it is only
    ever called with ids in `[0, rows)` (the others are replaced by 0 first).
    No check: for ids whose range is a choice (which block of several tables an
    id falls in), not an error.
    """
    valid = in_range(ids, rows)
    found = gather(ops.where(valid, ids, ops.zeros_like(ids)))
    for _ in range(len(found.shape) - len(valid.shape)):  # one axis per row axis
        valid = ops.expand_dims(valid, -1)
    return ops.where(valid, found, ops.zeros_like(found))


def take_or_zeros(params, indices, batch_dims=0):
    """`take`, with an all-zero slice for every index outside `[0, params.shape[batch_dims])`."""
    filled = take_filling_zeros(params, indices, batch_dims)
    if filled is not None:
        return filled
    return gather_or_zeros(
        lambda safe: take(params, safe, batch_dims), indices, ops.shape(params)[batch_dims]
    )


def lookup_rows(
    table, ids, name="inputs", what=None, batch_dims=0, rows=None, negatives_are_padding=False
):
    """The rows of `ids` in `table`, rejecting or zeroing ids out of range: every gather's rule.

    Keras' own `ops.take` returns a NaN row on JAX for `id >= rows` and wraps
    negative ids to rows counted from the end on every backend. Here:

    - when the ids are concrete (eager calls, numpy inputs) any id outside
      `[0, rows)` raises a `ValueError` naming it and the valid range;
    - when they are symbolic (inside `jit`, `tf.function`, a compiled
      `model.fit` step), values cannot be checked, so every id outside
      `[0, rows)` gathers an all-zero row: never NaN, never another row.

    `table` is what holds the rows: a tensor (a plain or sharded table, a
    sequence of hidden states), or a function of in-range ids that assembles
    their rows (a quantised table's dequantisation, a quotient-remainder or
    subword composition). Every table layer gathers through here.

    Args:
        table: tensor of shape `(stored_rows, ...)` (`(batch, stored_rows, d)`
            when `batch_dims=1`), or a function `(...) -> (..., d)` of ids
            in `[0, rows)`.
        ids: integer tensor of any shape, or `(batch, m)` when `batch_dims=1`
            (each batch row indexes its own table).
        name: the argument name quoted in errors.
        what: what the rows are, quoted in errors (see `table_rows`).
        batch_dims: 0, or 1 for a gather per batch row (tensor tables).
        rows: the number of valid rows: needed for a function; for a tensor,
            when it holds more (a table stored padded for sharding). Defaults
            to `table.shape[batch_dims]`.
        negatives_are_padding: bool. Whether negative ids are padding (all-zero
            rows, never an error), as in a subword table; only ids at or past
            `rows` are then errors.

    Returns:
        Tensor of shape `ids.shape + table.shape[1:]` (`(batch, m, d)` when
        `batch_dims=1`; `(..., d)` for a function), dtype of the rows.
    """
    if callable(table):
        gather, stored_rows = table, rows
    else:
        stored_rows = table.shape[batch_dims]
        rows = stored_rows if rows is None else rows
        gather = lambda valid_ids: take(table, valid_ids, batch_dims)  # noqa: E731
    values = concrete_value(ids)
    if values is not None and isinstance(rows, int):
        what = what or f"a table of {rows} rows"
        if not negatives_are_padding:
            check_index_range(name, values, rows, what)
            return gather(ids)
        check_index_range(name, np.maximum(values, 0), rows, f"{what} (negative ids are padding)")
    if callable(table):
        return gather_or_zeros(gather, ids, rows)
    if rows != stored_rows:
        # Ids into the padding rows go past the table, where they gather zeros.
        ids = ops.where(ops.less(ids, rows), ids, ops.full_like(ids, stored_rows))
    return take_or_zeros(table, ids, batch_dims)


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
    valid = None if concrete_value(ids) is not None else in_range(ids, variable.shape[0])
    scatter_rows_in_place(variable, ids, rows, valid)
