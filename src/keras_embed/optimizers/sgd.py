import keras
from keras import ops

from keras_embed.ops._backend import take
from keras_embed.optimizers.row_sparse_optimizer import RowSparseOptimizer
from keras_embed.optimizers.row_sparse_optimizer import keras_implementation
from keras_embed.optimizers.row_sparse_optimizer import write_rows


@keras.saving.register_keras_serializable(package="keras_embed")
class SGD(RowSparseOptimizer, keras_implementation(keras.optimizers.SGD)):
    """`keras.optimizers.SGD` that also updates sparse tables row by row.

    Same arguments, defaults and dense updates as `keras.optimizers.SGD`
    (`learning_rate=0.01, momentum=0.0, nesterov=False`, ...). For a table
    built with `sparse=True`, only the rows a step looked up change, by
    keras' formula applied to their summed gradient `g`:
    `w -= lr * g` without momentum (then equal to the dense result), else
    `m = momentum * m - lr * g` and `w += m` (nesterov:
    `w += momentum * m - lr * g`) on those rows only: the momentum of a row
    not looked up is neither applied nor decayed ("lazy" momentum).

    Example:

    >>> import numpy as np
    >>> from keras_embed.layers import Embedding
    >>> model = keras.Sequential([Embedding(1000, 8, sparse=True, sparse_capacity=4),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(optimizer=SGD(0.1, momentum=0.9), loss="mse")
    >>> history = model.fit(np.array([[1, 2], [3, 4]]), np.zeros((2, 2, 1)),
    ...                     verbose=0)
    """

    def update_rows(self, table, ids, gradients, valid, learning_rate):
        lr = ops.cast(learning_rate, table.dtype)
        values = self.decayed_rows(table, take(table, ids), learning_rate)
        if self.momentum == 0:
            write_rows(table, ids, values - gradients * lr, valid)
            return
        momentum = ops.cast(self.momentum, table.dtype)
        slot = self.momentums[self._get_variable_index(table)]
        velocity = take(slot, ids) * momentum - gradients * lr
        write_rows(slot, ids, velocity, valid)
        if self.nesterov:
            write_rows(table, ids, values + (velocity * momentum - gradients * lr), valid)
        else:
            write_rows(table, ids, values + velocity, valid)

    def update_distinct_rows(self, kernels, table, ids, gradients, learning_rate):
        slot = None if self.momentum == 0 else self.momentums[self._get_variable_index(table)]
        kernels.sgd_rows(
            table,
            slot,
            ids,
            gradients,
            learning_rate,
            self.momentum,
            self.nesterov,
            self.row_weight_decay(table),
        )
