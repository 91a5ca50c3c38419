import keras
from keras import ops

from keras_embed._keras_internals import adam_moments
from keras_embed.ops._backend import take
from keras_embed.optimizers.row_sparse_optimizer import RowSparseOptimizer
from keras_embed.optimizers.row_sparse_optimizer import keras_implementation
from keras_embed.optimizers.row_sparse_optimizer import write_rows


def lazy_adam_distinct_rows(optimizer, kernels, table, ids, gradients, learning_rate):
    """`lazy_adam_rows` by the backend's fused `kernels.adam_rows`, for distinct valid `ids`."""
    slots = [slot for slot in adam_moments(optimizer, table) if slot is not None]
    kernels.adam_rows(
        table,
        slots,
        ids,
        gradients,
        learning_rate,
        ops.convert_to_tensor(optimizer.iterations) + 1,
        optimizer.beta_1,
        optimizer.beta_2,
        optimizer.epsilon,
        optimizer.row_weight_decay(table),
    )


def lazy_adam_rows(optimizer, table, ids, gradients, valid, learning_rate):
    """Adam on the rows `ids` of `table` and of its moments; other rows untouched.

    keras' Adam formula (torch `SparseAdam`'s too) with the global step:
    `m += (g - m)(1 - beta_1)`, `v += (g**2 - v)(1 - beta_2)`,
    `w -= m * lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) / (sqrt(v) + epsilon)`,
    `t = iterations + 1`; with `amsgrad`, `v` in the last step is the row's
    running maximum. Weight decay, if any, first shrinks the same rows.
    """
    dtype = table.dtype
    lr = ops.cast(learning_rate, dtype)
    local_step = ops.cast(ops.convert_to_tensor(optimizer.iterations) + 1, dtype)
    beta_1_power = ops.power(ops.cast(optimizer.beta_1, dtype), local_step)
    beta_2_power = ops.power(ops.cast(optimizer.beta_2, dtype), local_step)
    alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    first_slot, second_slot, maximum_slot = adam_moments(optimizer, table)
    values = optimizer.decayed_rows(table, take(table, ids), learning_rate)
    first = take(first_slot, ids)
    second = take(second_slot, ids)
    first = first + (gradients - first) * (1 - optimizer.beta_1)
    second = second + (ops.square(gradients) - second) * (1 - optimizer.beta_2)
    write_rows(first_slot, ids, first, valid)
    write_rows(second_slot, ids, second, valid)
    if optimizer.amsgrad:
        second = ops.maximum(take(maximum_slot, ids), second)
        write_rows(maximum_slot, ids, second, valid)
    step = ops.divide(first * alpha, ops.sqrt(second) + optimizer.epsilon)
    write_rows(table, ids, values - step, valid)


@keras.saving.register_keras_serializable(package="keras_embed")
class Adam(RowSparseOptimizer, keras_implementation(keras.optimizers.Adam)):
    """`keras.optimizers.Adam` that also updates sparse tables row by row ("lazy" Adam).

    Same arguments, defaults and dense updates as `keras.optimizers.Adam`
    (`learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
    amsgrad=False`, ...). For a table built with `sparse=True`, only the rows a
    step looked up and their two moments change, with keras' formula and the
    optimizer's global step count in the bias correction: this is torch's
    `SparseAdam` (and TF Addons' `LazyAdam`). Moments of rows not looked up
    neither decay nor move their rows, which differs from dense Adam.

    Example:

    >>> import numpy as np
    >>> from keras_embed.layers import Embedding
    >>> model = keras.Sequential([Embedding(1000, 8, sparse=True, sparse_capacity=4),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(optimizer=Adam(1e-3), loss="mse")
    >>> history = model.fit(np.array([[1, 2], [3, 4]]), np.zeros((2, 2, 1)),
    ...                     verbose=0)
    """

    def update_rows(self, table, ids, gradients, valid, learning_rate):
        lazy_adam_rows(self, table, ids, gradients, valid, learning_rate)

    def update_distinct_rows(self, kernels, table, ids, gradients, learning_rate):
        lazy_adam_distinct_rows(self, kernels, table, ids, gradients, learning_rate)
