"""Position indices and sinusoidal tables shared by the position layers."""

import keras
import numpy as np
from keras import ops

from keras_embed.ops.lookup import as_integer_ids


def sequence_positions(sequence_length, start_index=0, positions=None, dtype="float32"):
    """Positions of a sequence: `positions`, else `start_index + arange(sequence_length)`.

    The one rule every position layer follows: positions that feed an angle
    (sinusoidal and rotary encodings, float `dtype`) may be integers or
    floats, fractional ones included, since the formulas hold at any real
    position; positions that index a table (`PositionEmbedding`, integer
    `dtype`) are ids and follow `as_integer_ids`.

    Args:
        sequence_length: int or scalar tensor, the length of the sequence
            axis (unused when `positions` is given).
        start_index: int or scalar integer tensor; the position of the first
            element, used during cached decoding.
        positions: optional tensor of shape `(seq,)` or `(batch, seq)` that
            overrides `start_index` (left padding, packed sequences).
        dtype: the dtype of the result.

    Returns:
        Tensor of shape `(seq,)` or `(batch, seq)` and dtype `dtype`.
    """
    if positions is None:
        return ops.arange(sequence_length, dtype=dtype) + ops.cast(start_index, dtype)
    positions = ops.convert_to_tensor(positions)
    if "int" in dtype:
        positions = as_integer_ids("positions", positions)
    else:
        given = keras.backend.standardize_dtype(positions.dtype)
        if "int" not in given and "float" not in given:
            raise ValueError(
                f"`positions` must hold integer or float positions. Received dtype {given}."
            )
    return ops.cast(positions, dtype)


def sinusoidal_timescales(hidden_size, max_wavelength):
    """`max_wavelength ** (-2 * (i // 2) / hidden_size)` for `i < hidden_size`.

    Computed once in float64 from static sizes, returned as float32, so every
    feature pair `(2k, 2k + 1)` shares one frequency (Vaswani et al., 2017).
    """
    exponents = 2 * (np.arange(hidden_size) // 2) / hidden_size
    return (float(max_wavelength) ** -exponents).astype("float32")


def sinusoidal_encoding(positions, hidden_size, max_wavelength=10000):
    """Sine at even features, cosine at odd ones: `(...,) -> (..., hidden)` float32."""
    timescales = ops.convert_to_tensor(sinusoidal_timescales(hidden_size, max_wavelength))
    angles = ops.expand_dims(positions, -1) * timescales
    is_cosine = ops.convert_to_tensor(np.arange(hidden_size) % 2 == 1)
    return ops.where(is_cosine, ops.cos(angles), ops.sin(angles))
