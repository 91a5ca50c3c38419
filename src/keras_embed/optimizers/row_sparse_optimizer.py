"""What every `keras_embed.optimizers` optimizer adds to its keras namesake.

Dense variables go through keras' own code (the namesake's `update_step`, or
on torch its fused `_parallel_update_step`), so their updates are bit-for-bit
keras'. A table built with `sparse=True` is recognised by its row-gradient
carrier (see `keras_embed.ops.row_sparse`) and updated row by row:

- the carrier gradient is decoded into `(ids, rows)` and duplicate ids are
  summed first;
- clipping (`clipnorm`, `global_clipnorm`, `clipvalue`) sees the summed rows,
  which is the table's dense gradient without its zero rows, so it clips
  exactly as keras would;
- only the rows looked up and the same rows of their slots (momentum,
  moments, accumulators) change ("lazy", as torch `SparseAdam` and TF
  `LazyAdam`): an untouched row keeps its value and its slots;
- weight decay (`weight_decay`, `AdamW`) shrinks only the rows looked up;
- the step counter is the optimizer's one global `iterations`, so Adam's bias
  correction is global, as in torch `SparseAdam`;
- on the torch backend (eager) the ids are made distinct by `torch.unique`
  and each table's update is a handful of fused in-place torch ops
  (`keras_embed.ops._row_sparse_torch`), the same formulas as the portable
  path, which JAX and TensorFlow compile;
- with `gradient_accumulation_steps=k` the last `k` carrier gradients are
  kept (a `(k, capacity, d + 3)` ring instead of a `(V, d)` accumulator) and
  applied together on every k-th step.

Slots of a sparse table are keras' own slot variables (same names, shapes
and `.keras` layout as keras would create), so saving, loading and
`BackupAndRestore` work unchanged. `use_ema` is refused for sparse tables (an
average of every row at every step is what sparse training avoids).
"""

from keras import ops

from keras_embed._keras_internals import accumulated_gradient
from keras_embed.ops import _backend
from keras_embed.ops import row_sparse


def keras_implementation(optimizer_class):
    """The class keras really instantiates for `optimizer_class` on this backend.

    On torch, `keras.optimizers.Adam()` builds a subclass with fused
    (`torch._foreach_*`) updates; subclassing it keeps dense updates
    bit-for-bit identical to keras'. Elsewhere it is the class itself.
    """
    return type(optimizer_class.__new__(optimizer_class))


class RowSparseOptimizer:
    """Mixin: row-wise updates for sparse tables, keras' updates for the rest.

    A subclass implements `update_rows(table, ids, gradients, valid,
    learning_rate)`: the namesake's update formula on `table[ids]` and the
    same rows of its slots, read with `keras_embed.ops._backend.take` and
    written with `write_rows`; and `update_distinct_rows(kernels, table, ids,
    gradients, learning_rate)`, the same formula by the backend's fused
    kernels (torch eager), which get distinct ids only.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        row_sparse.register_unbuilt_optimizer(self)

    def build(self, variables):
        if self.built:
            return
        for variable in variables:
            if row_sparse.is_sparse_table(variable):
                if self.use_ema:
                    raise ValueError(
                        f"{type(self).__name__}(use_ema=True) would average every row of "
                        f"the sparse table {variable.path!r} at every step. Use "
                        "use_ema=False with row-sparse tables."
                    )
                row_sparse.mark_sparse_optimizer(variable, self)
        super().build(variables)

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        steps = self.gradient_accumulation_steps
        if row_sparse.is_carrier(reference_variable):
            # A carrier is never updated; only its accumulator ring is real.
            if name == "gradient_accumulator":
                shape = (steps,) + tuple(reference_variable.shape)
            else:
                shape = (1,)
            return self.add_variable(
                shape=shape,
                initializer="zeros",
                dtype=reference_variable.dtype,
                name=f"{reference_variable.path.replace('/', '_')}_{name}",
            )
        if row_sparse.is_sparse_table(reference_variable) and name == "gradient_accumulator":
            return self.add_variable(
                shape=(1,),
                initializer="zeros",
                dtype=reference_variable.dtype,
                name=f"{reference_variable.path.replace('/', '_')}_{name}",
            )
        slot = super().add_variable_from_reference(
            reference_variable, name=name, initializer=initializer
        )
        if not row_sparse.is_sparse_table(reference_variable):
            self._dense_slot_keys().add(id(slot))
        return slot

    def _dense_slot_keys(self):
        if not hasattr(self, "_keras_embed_dense_slots"):
            self._keras_embed_dense_slots = set()
        return self._keras_embed_dense_slots

    def _filter_empty_gradients(self, grads, variables):
        # A sparse table's gradient is None on torch and TensorFlow by design.
        kept = [
            (g, v)
            for g, v in zip(grads, variables)
            if g is not None or not row_sparse.is_sparse_table(v)
        ]
        if not kept:
            return super()._filter_empty_gradients(grads, variables)
        grads, variables = zip(*kept)
        return super()._filter_empty_gradients(list(grads), list(variables))

    def _backend_apply_gradients(self, grads, trainable_variables):
        # TensorFlow may lose the static shape of a gradient sliced by a dynamic batch.
        carried = [
            (ops.reshape(g, v.shape), v)
            for g, v in zip(grads, trainable_variables)
            if row_sparse.is_carrier(v)
        ]
        if not carried:
            return super()._backend_apply_gradients(grads, trainable_variables)
        dense = [
            (g, v)
            for g, v in zip(grads, trainable_variables)
            if not row_sparse.is_carrier(v) and not row_sparse.is_sparse_table(v)
        ]
        dense_grads = [g for g, _ in dense]
        dense_variables = [v for _, v in dense]
        tables = [getattr(v, row_sparse.TABLE_OF_CARRIER) for _, v in carried]
        steps = self.gradient_accumulation_steps

        if steps:
            is_update_step = ops.equal((self._iterations + 1) % steps, 0)
            slot_index = self._iterations % steps
            packed_grads = []
            for grad, carrier in carried:
                ring = accumulated_gradient(self, carrier)
                this_slot = ops.reshape(
                    ops.equal(ops.arange(steps), slot_index), (steps, 1, 1)
                )
                filled = ops.where(this_slot, ops.expand_dims(grad, 0), ring.value)
                ring.assign(ops.where(is_update_step, ops.zeros_like(filled), filled))
                packed_grads.append(ops.reshape(filled, (-1, filled.shape[-1])))
            dense_accumulators = [accumulated_gradient(self, v) for v in dense_variables]
            totals = [ops.add(g, a.value) for g, a in zip(dense_grads, dense_accumulators)]
            dense_grads = [ops.divide(t, steps) for t in totals]
        else:
            packed_grads = [g for g, _ in carried]

        kernels = _backend.row_sparse_kernels()
        row_updates = []
        for packed, table in zip(packed_grads, tables):
            if kernels is not None:
                ids, rows = kernels.distinct_row_gradients(
                    packed,
                    table.shape[0],
                    row_sparse.CODE_BASE,
                    is_update_step if steps else None,
                )
                valid = None
            else:
                ids, rows, valid = row_sparse.decode_row_gradients(packed, table.shape[0])
                ids, rows, valid = row_sparse.sum_duplicate_rows(ids, rows, valid)
                if steps:
                    valid = ops.logical_and(valid, is_update_step)
            if steps:
                rows = ops.divide(rows, steps)
            row_updates.append((table, ids, rows, valid))

        clipped = self._clip_gradients(dense_grads + [rows for _, _, rows, _ in row_updates])
        dense_grads = clipped[: len(dense_grads)]
        row_grads = clipped[len(dense_grads) :]

        if steps:
            dense_slots = [v for v in self.variables if id(v) in self._dense_slot_keys()]
            before = [ops.copy(ops.convert_to_tensor(v)) for v in dense_variables + dense_slots]
        if dense_variables:
            self._apply_weight_decay(dense_variables)
            self._backend_update_step(dense_grads, dense_variables, self.learning_rate)
        if steps:
            for variable, old in zip(dense_variables + dense_slots, before):
                variable.assign(ops.where(is_update_step, variable.value, old))
            for accumulator, total in zip(dense_accumulators, totals):
                accumulator.assign(ops.where(is_update_step, ops.zeros_like(total), total))

        learning_rate = self.learning_rate
        for (table, ids, _, valid), rows in zip(row_updates, row_grads):
            rows = ops.cast(rows, table.dtype)
            if valid is None:
                self.update_distinct_rows(
                    kernels, table, ids, rows, ops.convert_to_tensor(learning_rate)
                )
            else:
                self.update_rows(table, ids, rows, valid, learning_rate)

    def decayed_rows(self, table, values, learning_rate):
        """`values` (rows of `table`) after keras' decoupled weight decay, if it applies."""
        weight_decay = self.row_weight_decay(table)
        if weight_decay is None:
            return values
        lr = ops.cast(learning_rate, table.dtype)
        wd = ops.cast(weight_decay, table.dtype)
        return values - values * wd * lr

    def row_weight_decay(self, table):
        """The decoupled weight decay that applies to `table`'s rows, or None."""
        if self.weight_decay is None or not self._use_weight_decay(table):
            return None
        return self.weight_decay

    def update_rows(self, table, ids, gradients, valid, learning_rate):
        raise NotImplementedError

    def update_distinct_rows(self, kernels, table, ids, gradients, learning_rate):
        """`update_rows` with the backend's `kernels`, for distinct `ids` that are all valid."""
        raise NotImplementedError


def write_rows(variable, ids, rows, valid):
    """Write `rows` into `variable[ids]` where `valid`, in place, in the variable's dtype."""
    row_sparse.scatter_rows(variable, ids, ops.cast(rows, variable.dtype), valid)
