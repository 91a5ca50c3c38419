import keras
from keras import ops

from keras_embed._validation import check_positive_float
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.ops.positions import check_positions_shape
from keras_embed.ops.positions import sequence_positions
from keras_embed.ops.positions import sinusoidal_encoding


@keras.saving.register_keras_serializable(package="keras_embed")
class SinePositionEncoding(CheckedCallArgumentsMixin, keras.layers.Layer):
    """Fixed sinusoidal position encoding (Vaswani et al., 2017).

    For position `p` and feature `i` of `hidden` features the encoding is
    `sin(p / max_wavelength ** (2 * (i // 2) / hidden))` at even `i` and the
    cosine of the same angle at odd `i`. The layer reads only the shape of
    its input and returns an encoding of the same shape, to be added to it.

    Numerics match `keras_hub.layers.SinePositionEncoding` in float32. Under a
    mixed policy keras-hub computes the angles in bfloat16 and is off by up to
    2.0 at position 2048; here positions, angles, sine and cosine are always
    computed in float32 and only the result is cast to the compute dtype.

    Args:
        max_wavelength: number. The longest wavelength of the sinusoids.
            Defaults to `10000`.
        **kwargs: Other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(..., sequence, hidden)`; only its shape is used.
        start_index: int or scalar integer tensor. Position of the first
            element, for cached decoding. Defaults to `0`.
        positions: optional integer or float tensor of shape `(sequence,)`
            or `(batch, sequence)` giving each element's position (fractional
            positions are encoded by the same formula); overrides
            `start_index`.

    Input shape:
        `inputs`: `(..., sequence, hidden)`, e.g. `(batch, sequence, hidden)`.
        `positions`: `(sequence,)` or `(batch, sequence)`.

    Output shape:
        The shape of `inputs`: `(..., sequence, hidden)`.

    Returns:
        Tensor of the shape of `inputs`, in the compute dtype.

    Example:

    >>> import numpy as np
    >>> embedded_tokens = np.zeros((2, 16, 8), dtype="float32")
    >>> encoding = SinePositionEncoding()(embedded_tokens)
    >>> tuple(encoding.shape)
    (2, 16, 8)

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    checked_call_arguments = {"inputs": "numbers", "positions": "positions"}

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        check_positive_float("max_wavelength", max_wavelength)
        self.max_wavelength = max_wavelength
        # The encoding reads only the input's shape, so an input mask passes through.
        self.supports_masking = True
        self.built = True

    def call(self, inputs, start_index=0, positions=None):
        shape = ops.shape(inputs)
        check_positions_shape(positions, tuple(inputs.shape))
        positions = sequence_positions(shape[-2], start_index, positions)
        encoding = sinusoidal_encoding(positions, shape[-1], self.max_wavelength)
        return ops.broadcast_to(ops.cast(encoding, self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
