"""The layer side of row-sparse training (private): carrier weight, training lookup.

The mechanism and its reasons are in `keras_embed.ops.row_sparse`.
"""

import math
import warnings
import weakref

from keras import ops

from keras_embed._keras_internals import call_training_flag
from keras_embed._keras_internals import get_stateless_scope
from keras_embed._keras_internals import in_stateless_scope
from keras_embed._validation import describe
from keras_embed.ops import row_sparse
from keras_embed.ops.lookup import in_range
from keras_embed.ops.lookup import lookup_rows


def check_sparse_compatible(embeddings_regularizer, embeddings_constraint):
    """Refuse arguments that act on every row of a table built with `sparse=True`."""
    for name, value in (
        ("embeddings_regularizer", embeddings_regularizer),
        ("embeddings_constraint", embeddings_constraint),
    ):
        if value is not None:
            raise ValueError(
                f"`{name}` acts on every row of the table, which `sparse=True` "
                f"training never touches as a whole; pass {name}=None with sparse=True. "
                f"Received: {name}={describe(value)}."
            )


def add_row_gradient_carrier(layer, table, input_shape, capacity=None):
    """Create `layer`'s `(capacity, d + 3)` float32 carrier of zeros and link it to `table`."""
    if capacity is None:
        dims = tuple(input_shape) if input_shape is not None else None
        if dims is None or any(dim is None for dim in dims):
            raise ValueError(
                f"`sparse=True` needs the number of ids one training call looks up, to "
                f"size the row-gradient carrier; the layer {layer.name!r} is built on "
                f"input_shape={input_shape}, which does not fix it. Pass "
                "`sparse_capacity` (batch size x ids per example), or build the layer "
                "on a fully known shape (an `Input` with `batch_size`)."
            )
        capacity = max(1, math.prod(dims))
    carrier = layer.add_weight(
        shape=(capacity, table.shape[-1] + row_sparse.CODE_COLUMNS),
        initializer="zeros",
        dtype="float32",
        trainable=True,
        autocast=False,
        name="row_gradient_carrier",
    )
    row_sparse.link_carrier(table, carrier)
    return carrier


def sparse_training_rows(layer, table, ids, padding_idx=None):
    """`table[ids]` for a sparse layer's call, or None where a plain lookup serves.

    `table` is the value of `layer._embeddings` (not cast by autocast);
    `ids` of shape `(...)` give rows of shape `(..., d)`.

    In a training call (`training=True`, or not stated: see
    `call_training_flag`) with a row-sparse optimizer built on the table, the
    gradient goes to the layer's carrier (and the ids' code to a zero loss
    term); the output is the plain lookup's, exactly. When `training` is not
    stated, calls with more ids than the carrier holds, or a number of ids
    not known when traced, are inference calls and get None. While a
    row-sparse optimizer exists unbuilt (TensorFlow's trainer builds it after
    tracing the first step) the table keeps its ordinary gradient as well, so
    whichever optimizer turns up can update it; the carrier's value never
    reaches the output (`c - stop_gradient(c)`), so an optimizer that also
    moves it changes nothing. A training call without a row-sparse optimizer
    trains the table densely, with a one-time warning.
    """
    training = call_training_flag()
    if training is False:
        return None
    variable = layer._embeddings
    carrier = layer.row_gradient_carrier
    if not row_sparse.has_sparse_optimizer(variable) and not row_sparse.sparse_optimizer_pending():
        if not training:
            return None
        if not getattr(layer, "_warned_dense_sparse_table", False):
            layer._warned_dense_sparse_table = True
            warnings.warn(
                f"The layer {layer.name!r} has sparse=True but no optimizer from "
                "keras_embed.optimizers is built on its table, so it trains densely: "
                "every row, every step. Compile with keras_embed.optimizers.Adam (or SGD, "
                "Adagrad, AdamW) for row-sparse updates.",
                stacklevel=3,
            )
        rows = lookup_rows(table, ids)
        # A zero gradient keeps the unused carrier at zero under any optimizer.
        untouched = ops.multiply(ops.sum(carrier), 0.0)
        return ops.add(rows, ops.cast(untouched, rows.dtype))
    flat_ids = ops.reshape(ids, (-1,))
    count = flat_ids.shape[0]
    if not training and (count is None or count > carrier.shape[0]):
        return None
    updates = in_range(flat_ids, table.shape[0])
    if padding_idx is not None:
        updates = ops.logical_and(updates, ops.not_equal(flat_ids, padding_idx))
    first_slot = slots_taken_this_step(layer)
    # None: an earlier lookup in this step took an unknown number of carrier rows.
    if first_slot is None or (first_slot and count is None):
        raise ValueError(
            f"The sparse table of layer {layer.name!r} is looked up a second time in one "
            "training step with a number of ids not known when traced; give both "
            "lookups fully known shapes (an `Input` with `batch_size`)."
        )
    rows, code_loss = row_sparse.carrier_rows(
        table,
        carrier.value,
        flat_ids,
        updates,
        dense_gradient=not row_sparse.has_sparse_optimizer(variable),
        first_slot=first_slot,
    )
    layer.add_loss(code_loss)
    remember_code_loss(layer, code_loss)
    remember_slots_taken(layer, code_loss, None if count is None else first_slot + count)
    return ops.reshape(rows, tuple(ops.shape(ids)) + (table.shape[-1],))


def slots_taken_this_step(layer):
    """How many carrier rows earlier lookups of `layer`'s table took in this training step (None: unknown).

    A table shared by two towers is looked up twice per step; each lookup
    takes its own carrier rows, so the optimizer sums both gradients, as the
    dense step does. A step is one stateless scope (JAX), or one outer call
    whose losses still hold this layer's last code loss (torch, TensorFlow).
    """
    taken = getattr(layer, "_row_sparse_slots_taken", None)
    if taken is None:
        return 0
    step, count = taken
    if in_stateless_scope():
        return count if step() is get_stateless_scope() else 0
    return count if any(loss is step for loss in layer._losses) else 0


def remember_slots_taken(layer, code_loss, count):
    step = weakref.ref(get_stateless_scope()) if in_stateless_scope() else code_loss
    layer._row_sparse_slots_taken = (step, count)


def remember_code_loss(layer, code_loss):
    """Keep the code loss of a stateless (JAX) training call for `restore_code_loss`."""
    if in_stateless_scope():
        scope = get_stateless_scope()
        remembered = getattr(layer, "_row_sparse_code_loss", None)
        earlier = remembered[1] if remembered is not None and remembered[0]() is scope else []
        layer._row_sparse_code_loss = (weakref.ref(scope), earlier + [code_loss])


def restore_code_loss(layer):
    """Re-add the code losses that another call of `layer` in the same step just cleared.

    Keras' JAX trainer runs the model's `call` without entering a call
    context, so each top-level layer call clears that layer's losses first: a
    layer called twice in one step (a `ReversibleEmbedding` embedding, then
    projecting back) would drop the code of its first call. Call this after
    `super()._clear_losses()`.
    """
    remembered = getattr(layer, "_row_sparse_code_loss", None)
    if remembered is None or not in_stateless_scope():
        return
    scope, code_losses = remembered
    if scope() is get_stateless_scope():
        for code_loss in code_losses:
            layer.add_loss(code_loss)
