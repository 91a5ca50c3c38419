"""Row-sparse training of embedding tables inside keras' own `model.fit`.

Keras' trainers differentiate every trainable variable densely: on JAX the
gradient of a gather is a scatter-add into a fresh `(V, d)` array of zeros
(2.5 GB and a memset per step at 10M x 64), then every optimizer updates every
row. This module lets a table layer and a `keras_embed.optimizers` optimizer
update only the rows a step looked up, without touching keras' trainers.

Design
------
The trainers hand an optimizer exactly one thing per trainable variable: a
gradient of the variable's shape. On JAX nothing else reaches it (the
optimizer runs `stateless_apply` on the trainable and optimizer variables only;
state a layer records in its `call` never gets there), so the ids of the rows a
step looked up must travel *inside a gradient*. Hence:

1. A sparse table layer owns, next to its `(V, d)` table, a small trainable
   *row-gradient carrier* of shape `(capacity, d + 3)` float32 that always
   holds zeros; `capacity` is the most ids one training call looks up.
2. In a training call the rows are gathered from `stop_gradient(table)`, and
   `carrier[:n, :d] - stop_gradient(carrier[:n, :d])` (exactly zero) is added
   to them: autodiff delivers the `(n, d)` gradient of the looked-up rows to
   the carrier instead of a `(V, d)` gradient to the table.
3. The ids travel in the carrier's last three columns. The layer adds the
   loss term `sum((c - stop_gradient(c)) * code)` with `c = carrier[:n, d:]`
   and `code = [hi, lo, 1]` per looked-up position (`id + 1 = hi * 2**16 +
   lo`; `0` marks a position that updates nothing: ids out of range or the
   padding row). The term is exactly zero, and its gradient is `code`. Every
   factor keras applies to gradients later (loss scaling under
   `mixed_float16` and its unscaling, `loss_scale_factor`) multiplies the
   three columns alike, so the optimizer decodes `hi = round(col / marker)`
   exactly; the marker column is 0 in unused carrier rows.
4. A `keras_embed.optimizers` optimizer recognises carriers, decodes
   `(ids, rows)` (`decode_row_gradients`), sums duplicate ids
   (`sum_duplicate_rows`: sort, segment sum; static shapes, so JAX compiles
   it), clips together with the dense gradients, and updates the table rows
   and the same rows of its slots (`_backend.take` / `scatter_rows`). On JAX
   the scatter is `.at[ids].set` on the table and slot buffers that the keras
   trainer donates to its jitted step, so XLA writes in place; on torch and
   TensorFlow the variables are written in place. No `(V, d)` temporary
   exists in a step: the table's own gradient is `stop_gradient`'s zero (None
   on torch; a broadcast zero on JAX that nothing reads and XLA removes). On
   TensorFlow keras builds the optimizer only after tracing the first step,
   so the layer cannot know yet which optimizer will come and also keeps the
   table's ordinary gradient, an `(n, d)` `IndexedSlices` that a
   `keras_embed` optimizer ignores and a plain keras one applies.

Known costs under `mixed_float16`: keras' `LossScaleOptimizer` checks every
gradient for finiteness and unscales it, which on JAX reads the table's zero
gradient (a broadcast XLA may or may not fold) and on TensorFlow turns the
table's `IndexedSlices` dense. Not measured; `float32` and `mixed_bfloat16`
have neither.

Why not the backends' native sparse gradients (TF `IndexedSlices`, torch
sparse COO): JAX has none, and both break keras code between the trainer and
the optimizer (loss-scale unscaling and finiteness checks, clipping,
gradient accumulation densify or reject them). The carrier is an ordinary
dense gradient everywhere, so one portable code path serves all backends.

Costs and limits: the carrier adds `capacity * (d + 3)` zeros to the model's
weights; a sparse table is looked up once per training step (a second lookup
in the same step would sum two codes into garbage: concatenate the ids and
look up once); custom training loops must add `model.losses` to the loss, as
keras' regularizers already require.
"""

import weakref

import keras
from keras import ops

from keras_embed.ops import _backend
from keras_embed.ops._backend import is_resource_variable
from keras_embed.ops._backend import scatter_rows_in_place
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.lookup import take_or_zeros

# Ids travel as two float32 halves of 16 bits, each exact in float32.
CODE_BASE = 2**16
CODE_COLUMNS = 3

# Attributes tying a table variable, its carrier and the optimizer together.
CARRIER_OF_TABLE = "_keras_embed_row_gradient_carrier"
TABLE_OF_CARRIER = "_keras_embed_row_sparse_table"
SPARSE_OPTIMIZER = "_keras_embed_row_sparse_optimizer"


def is_carrier(variable):
    return getattr(variable, TABLE_OF_CARRIER, None) is not None


def is_sparse_table(variable):
    return getattr(variable, CARRIER_OF_TABLE, None) is not None


def link_carrier(table, carrier):
    """Mark `carrier` as the row-gradient carrier of `table` (both `keras.Variable`s)."""
    setattr(table, CARRIER_OF_TABLE, carrier)
    setattr(carrier, TABLE_OF_CARRIER, table)


# Row-sparse optimizers created but not built yet (TensorFlow builds them lazily).
_unbuilt_optimizers = weakref.WeakSet()


def register_unbuilt_optimizer(optimizer):
    _unbuilt_optimizers.add(optimizer)


def mark_sparse_optimizer(table, optimizer):
    """Record that `optimizer` (a row-sparse one) was built on `table`, while it lives."""
    setattr(table, SPARSE_OPTIMIZER, weakref.ref(optimizer))


def has_sparse_optimizer(table):
    """Whether a row-sparse optimizer that still exists has been built on `table`."""
    optimizer = getattr(table, SPARSE_OPTIMIZER, None)
    return optimizer is not None and optimizer() is not None


def sparse_optimizer_pending():
    """Whether a row-sparse optimizer exists that has not been built yet.

    Keras' TensorFlow trainer (and custom loops) build the optimizer in its
    first `apply`, after the first forward pass; a table layer seeing this
    keeps its dense gradient too, so either kind of optimizer can update it.
    """
    return any(not optimizer.built for optimizer in list(_unbuilt_optimizers))


def id_code(ids, updates):
    """The `(n, 3)` float32 code `[hi, lo, 1]` of flat `ids`; `[0, 0, 1]` where `updates` is False.

    Args:
        ids: int tensor of shape `(n,)`.
        updates: bool tensor of shape `(n,)`: whether the position updates its row.
    """
    shifted = ops.where(updates, ops.add(ops.cast(ids, "int32"), 1), 0)
    high = ops.floor_divide(shifted, CODE_BASE)
    low = ops.subtract(shifted, ops.multiply(high, CODE_BASE))
    marker = ops.ones_like(shifted)
    return ops.cast(ops.stack([high, low, marker], axis=-1), "float32")


def carrier_rows(table, carrier, ids, updates, dense_gradient=False, first_slot=0):
    """Rows of `table` for flat `ids`, with their gradient routed to `carrier`.

    Args:
        table: the `(V, d)` table tensor (read; gets no gradient), or on
            TensorFlow the table's `tf.Variable`, read by a resource gather.
        carrier: the `(capacity, d + 3)` carrier tensor (holds zeros).
        ids: int tensor of shape `(n,)` with `n <= capacity`; ids outside
            `[0, V)` gather zero rows.
        updates: bool tensor of shape `(n,)`, False where the position must
            not update its row (ids out of range, the padding row).
        dense_gradient: bool. Whether the table gets its ordinary gradient
            too (for an optimizer not known yet when the step is traced).
        first_slot: int. The first carrier row this lookup uses: earlier
            lookups of the same table in the same step hold the rows before
            it, so the optimizer sums the gradients of all of them.

    Returns:
        `(rows, code_loss)`: `rows` of shape `(n, d)` in the table's dtype
        (the gradient of `rows` arrives at `carrier[:n, :d]`), and the scalar
        loss term (exactly 0) whose gradient writes the ids' code into
        `carrier[:n, d:]`.
    """
    count = ids.shape[0]
    width = table.shape[-1]
    capacity = carrier.shape[0]
    if count is not None and first_slot + count > capacity:
        earlier = f" after {first_slot} ids of earlier lookups in this step" if first_slot else ""
        raise ValueError(
            f"A sparse table's training call looked up {count} ids{earlier}, more than its "
            f"row-gradient carrier holds ({capacity}: the number of ids per call the "
            "layer was built for). Build the layer on the training batch shape or "
            f"pass `sparse_capacity` >= {first_slot + count} (all ids of one step)."
        )
    if count is None:
        count = ops.shape(ids)[0]
    kernels = _backend.row_sparse_kernels()
    if kernels is not None and not dense_gradient:
        # Eager torch: the tap and the code below in one autograd node, not ~15 dispatched ops.
        rows = lookup_rows(ops.stop_gradient(table), ids)
        return kernels.carrier_tapped_rows(rows, carrier, ids, updates, first_slot, CODE_BASE)
    used = ops.slice(carrier, [first_slot, 0], [count, width + CODE_COLUMNS])
    tap = ops.subtract(used, ops.stop_gradient(used))
    if is_resource_variable(table):
        rows = take_or_zeros(table, ids)
        if not dense_gradient:
            rows = ops.stop_gradient(rows)
    else:
        rows = lookup_rows(table if dense_gradient else ops.stop_gradient(table), ids)
    rows = ops.add(rows, ops.cast(tap[:, :width], rows.dtype))
    code_loss = ops.sum(ops.multiply(tap[:, width:], id_code(ids, updates)))
    return rows, code_loss


def decode_row_gradients(packed, num_rows):
    """Split a carrier gradient into `(ids, rows, valid)`.

    Args:
        packed: float tensor of shape `(m, d + 3)`, a carrier's gradient (or
            several stacked).
        num_rows: the table's row count `V`.

    Returns:
        `ids` int32 `(m,)`, `rows` float32 `(m, d)`, `valid` bool `(m,)`.
    """
    width = packed.shape[-1] - CODE_COLUMNS
    packed = ops.cast(packed, "float32")
    marker = packed[:, width + 2]
    present = ops.not_equal(marker, 0.0)
    safe_marker = ops.where(present, marker, 1.0)
    high = ops.cast(ops.round(packed[:, width] / safe_marker), "int32")
    low = ops.cast(ops.round(packed[:, width + 1] / safe_marker), "int32")
    shifted = ops.where(present, high * CODE_BASE + low, 0)
    valid = ops.logical_and(ops.greater(shifted, 0), ops.less_equal(shifted, num_rows))
    return ops.subtract(shifted, 1), packed[:, :width], valid


def sum_duplicate_rows(ids, rows, valid):
    """Sum the rows of equal ids: the row gradient of each distinct id, once.

    Shapes stay static (`m` in, `m` out), so this compiles under `jit`:
    distinct ids fill the first slots, the rest are marked invalid.

    Args:
        ids: int32 `(m,)`; rows: float `(m, d)`; valid: bool `(m,)`.

    Returns:
        `(unique_ids, summed_rows, unique_valid)` of shapes `(m,)`, `(m, d)`,
        `(m,)`; invalid slots hold id 0 and zero rows.
    """
    count = ids.shape[0]
    # Invalid entries get a key past every id, so they sort last.
    sentinel = ops.max(ids) + 1
    keys = ops.where(valid, ids, sentinel)
    order = ops.argsort(keys)
    sorted_keys = ops.take(keys, order)
    sorted_rows = ops.take(ops.where(ops.expand_dims(valid, -1), rows, 0.0), order, axis=0)
    starts = ops.concatenate(
        [ops.ones((1,), "bool"), ops.not_equal(sorted_keys[1:], sorted_keys[:-1])]
    )
    segments = ops.subtract(ops.cumsum(ops.cast(starts, "int32")), 1)
    summed = ops.segment_sum(sorted_rows, segments, num_segments=count)
    # Each segment has one start, so summing the start keys gives the segment's id.
    unique_ids = ops.segment_sum(
        ops.where(starts, sorted_keys, 0), segments, num_segments=count
    )
    distinct_valid = ops.segment_sum(
        ops.cast(ops.logical_and(starts, ops.take(valid, order)), "int32"),
        segments,
        num_segments=count,
    )
    unique_valid = ops.greater(distinct_valid, 0)
    unique_ids = ops.where(unique_valid, unique_ids, 0)
    summed = ops.where(ops.expand_dims(unique_valid, -1), summed, 0.0)
    return unique_ids, summed, unique_valid


def scatter_rows(variable, ids, rows, valid):
    """Write `rows[valid]` into `variable[ids[valid]]` in place (ids distinct where valid)."""
    # Valid ids lie inside the table; invalid slots get id -1, which JAX's scatter drops.
    scatter_rows_in_place(variable, ops.where(valid, ids, -1), rows, valid)
