import keras
from keras import ops

from keras_embed._keras_internals import adagrad_accumulator
from keras_embed.ops._backend import take
from keras_embed.optimizers.row_sparse_optimizer import RowSparseOptimizer
from keras_embed.optimizers.row_sparse_optimizer import keras_implementation
from keras_embed.optimizers.row_sparse_optimizer import write_rows


@keras.saving.register_keras_serializable(package="keras_embed")
class Adagrad(RowSparseOptimizer, keras_implementation(keras.optimizers.Adagrad)):
    """`keras.optimizers.Adagrad` that also updates sparse tables row by row.

    Same arguments, defaults and dense updates as `keras.optimizers.Adagrad`
    (`learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7`, ...).
    For a table built with `sparse=True`, the rows a step looked up get
    keras' update with their summed gradient `g`: `acc += g**2`,
    `w -= lr * g / sqrt(acc + epsilon)`. A row not looked up has `g = 0`,
    which keras' dense update leaves unchanged too, so the sparse result
    equals the dense one.

    Example:

    >>> import numpy as np
    >>> from keras_embed.layers import Embedding
    >>> model = keras.Sequential([Embedding(1000, 8, sparse=True, sparse_capacity=4),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(optimizer=Adagrad(0.1), loss="mse")
    >>> history = model.fit(np.array([[1, 2], [3, 4]]), np.zeros((2, 2, 1)),
    ...                     verbose=0)
    """

    def update_rows(self, table, ids, gradients, valid, learning_rate):
        lr = ops.cast(learning_rate, table.dtype)
        values = self.decayed_rows(table, take(table, ids), learning_rate)
        slot = adagrad_accumulator(self, table)
        accumulator = take(slot, ids) + ops.square(gradients)
        write_rows(slot, ids, accumulator, valid)
        step = ops.divide(lr * gradients, ops.sqrt(accumulator + self.epsilon))
        write_rows(table, ids, values - step, valid)

    def update_distinct_rows(self, kernels, table, ids, gradients, learning_rate):
        slot = adagrad_accumulator(self, table)
        kernels.adagrad_rows(
            table, slot, ids, gradients, learning_rate, self.epsilon, self.row_weight_decay(table)
        )
