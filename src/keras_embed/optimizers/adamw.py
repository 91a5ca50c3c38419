import keras

from keras_embed.optimizers.adam import lazy_adam_distinct_rows
from keras_embed.optimizers.adam import lazy_adam_rows
from keras_embed.optimizers.row_sparse_optimizer import RowSparseOptimizer
from keras_embed.optimizers.row_sparse_optimizer import keras_implementation


@keras.saving.register_keras_serializable(package="keras_embed")
class AdamW(RowSparseOptimizer, keras_implementation(keras.optimizers.AdamW)):
    """`keras.optimizers.AdamW` that also updates sparse tables row by row.

    Same arguments, defaults (`weight_decay=0.004`) and dense updates as
    `keras.optimizers.AdamW`. For a table built with `sparse=True` the update
    is the lazy Adam of `keras_embed.optimizers.Adam`, and the decoupled
    weight decay `w -= w * weight_decay * lr` also applies only to the rows a
    step looked up: a row not looked up for many steps is not shrunk
    meanwhile (keras' dense AdamW shrinks every row at every step).

    Example:

    >>> import numpy as np
    >>> from keras_embed.layers import Embedding
    >>> model = keras.Sequential([Embedding(1000, 8, sparse=True, sparse_capacity=4),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(optimizer=AdamW(1e-3), loss="mse")
    >>> history = model.fit(np.array([[1, 2], [3, 4]]), np.zeros((2, 2, 1)),
    ...                     verbose=0)
    """

    def update_rows(self, table, ids, gradients, valid, learning_rate):
        lazy_adam_rows(self, table, ids, gradients, valid, learning_rate)

    def update_distinct_rows(self, kernels, table, ids, gradients, learning_rate):
        lazy_adam_distinct_rows(self, kernels, table, ids, gradients, learning_rate)
