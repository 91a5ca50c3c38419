import numbers

import keras
from keras import ops

from keras_embed._validation import check_positive_int
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.ops._backend import concrete_value
from keras_embed.ops.lookup import lookup_rows
from keras_embed.ops.positions import check_positions_shape
from keras_embed.ops.positions import sequence_positions


@keras.saving.register_keras_serializable(package="keras_embed")
class PositionEmbedding(CheckedCallArgumentsMixin, keras.layers.Layer):
    """A learned embedding of positions, one trainable vector per position.

    The layer owns a `(sequence_length, hidden)` table and returns the rows
    for the positions of its input, broadcast to the input's shape, to be
    added to it (Devlin et al., 2019). Only the input's shape is read.

    Numerics match `keras_hub.layers.PositionEmbedding`. Where keras-hub
    silently clamps a window `start_index + sequence > sequence_length` and
    returns NaN rows for out-of-range `positions`, this layer raises a
    `ValueError` whenever the values are known; inside compiled functions an
    out-of-range position embeds to an all-zero vector.

    Args:
        sequence_length: int. The number of positions the table holds.
        initializer: initializer of the table. Defaults to `"glorot_uniform"`.
        **kwargs: Other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(..., sequence, hidden)`; only its shape is used.
        start_index: int or scalar integer tensor. Position of the first
            element, for cached decoding. Defaults to `0`.
        positions: optional integer tensor of shape `(sequence,)` or
            `(batch, sequence)`; overrides `start_index`.

    Input shape:
        `inputs`: `(..., sequence, hidden)`, with `sequence <= sequence_length`.
        `positions`: `(sequence,)` or `(batch, sequence)`.

    Output shape:
        The shape of `inputs`: `(..., sequence, hidden)`.

    Returns:
        Tensor of the shape of `inputs`, in the compute dtype.

    Example:

    >>> import numpy as np
    >>> embedded_tokens = np.zeros((2, 10, 16), dtype="float32")
    >>> layer = PositionEmbedding(sequence_length=10)
    >>> tuple(layer(embedded_tokens).shape)
    (2, 10, 16)

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
    """

    checked_call_arguments = {"inputs": "numbers", "positions": "ids"}

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.initializer = keras.initializers.get(initializer)
        # The encoding reads only the input's shape, so an input mask passes through.
        self.supports_masking = True

    def build(self, inputs_shape):
        hidden_size = inputs_shape[-1]
        if hidden_size is None:
            raise ValueError(
                "The last axis of the inputs of `PositionEmbedding` must be known "
                f"to build its table. Received: inputs shape {tuple(inputs_shape)}."
            )
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, hidden_size),
            initializer=self.initializer,
            trainable=True,
        )
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        shape = ops.shape(inputs)
        check_positions_shape(positions, tuple(inputs.shape))
        table = ops.convert_to_tensor(self.position_embeddings)
        what = f"the position table (sequence_length={self.sequence_length})"
        if positions is None:
            self._check_window(shape[-2], start_index)
            name = "start_index + arange(sequence)"
        else:
            name = "positions"
        positions = sequence_positions(shape[-2], start_index, positions, dtype="int32")
        embedded = lookup_rows(table, positions, name, what)
        return ops.broadcast_to(ops.cast(embedded, self.compute_dtype), shape)

    def _check_window(self, length, start_index):
        start = concrete_value(start_index)
        if start is None or not isinstance(length, numbers.Integral):
            return
        start = int(start)
        if start < 0 or start + length > self.sequence_length:
            raise ValueError(
                f"Positions [{start}, {start + length}) do not fit the position table "
                f"of `sequence_length={self.sequence_length}`. Received: "
                f"start_index={start} for a sequence of length {length}; use a "
                "shorter input, a smaller start_index, or a larger sequence_length."
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
