"""Position indices and sinusoidal tables shared by the position layers."""

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_finite
from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.ops._backend import concrete_value
from keras_embed.ops._ids import check_numbers
from keras_embed.ops._ids import integer_ids


def sequence_positions(sequence_length, start_index=0, positions=None, dtype="float32"):
    """Positions of a sequence: `positions`, else `start_index + arange(sequence_length)`.

    The one rule every position layer follows: positions that feed an angle
    (sinusoidal and rotary encodings, float `dtype`) may be integers or
    floats, fractional ones included, since the formulas hold at any real
    position; positions that index a table (`PositionEmbedding`, integer
    `dtype`) are ids and follow `integer_ids`.

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
        check_start_index(start_index)
        return ops.arange(sequence_length, dtype=dtype) + ops.cast(start_index, dtype)
    if "int" in dtype:
        positions = integer_ids("positions", positions)
    else:
        check_numbers("positions", positions, "positions")
        positions = ops.convert_to_tensor(positions)
        values = concrete_value(positions)
        if values is not None:
            check_finite("positions", values)
    return ops.cast(positions, dtype)


def check_start_index(start_index):
    """Raise unless `start_index` is an integer: a Python or numpy int, or an integer tensor."""
    if is_integer(start_index):
        return
    dtype = getattr(start_index, "dtype", None)
    shape = tuple(getattr(start_index, "shape", (None,)))
    if dtype is not None and shape == () and "int" in keras.backend.standardize_dtype(dtype):
        return
    raise ValueError(
        "`start_index` must be an integer (a Python int or a scalar integer tensor). "
        f"Received: start_index={describe(start_index)}."
    )


def check_positions_shape(positions, inputs_shape):
    """Raise unless `positions` has shape `(seq,)` or `(batch, seq)` for `inputs` `(batch, seq, ...)`."""
    if len(inputs_shape) < 2:
        raise ValueError(
            "`inputs` must have shape (..., sequence, hidden), at least rank 2. "
            f"Received: inputs of shape {tuple(inputs_shape)}."
        )
    if positions is None:
        return
    shape = tuple(getattr(positions, "shape", np.shape(positions)))
    if len(shape) not in (1, 2):
        raise ValueError(
            "`positions` must have shape (sequence,) or (batch, sequence). "
            f"Received: positions of shape {shape}."
        )
    sequence_axis = len(inputs_shape) - 2
    check_positions_fit(
        shape,
        inputs_shape,
        sequence_axis,
        batch_axis=0 if len(shape) == 2 else None,
        along=f"axis {sequence_axis}",
    )


def check_positions_fit(shape, inputs_shape, sequence_axis, batch_axis, along):
    """Raise unless positions of `shape` give one position per token of inputs `inputs_shape`.

    Args:
        shape: static shape of the positions; its last axis runs along the tokens.
        inputs_shape: static shape of the inputs, batch on axis 0.
        sequence_axis: canonical axis of the inputs that indexes tokens.
        batch_axis: axis of `shape` that runs along the batch, size 1 to
            broadcast, or `None` when the positions have none.
        along: how errors name the inputs' sequence axis, e.g. `"axis 1"`.
    """
    sequence = inputs_shape[sequence_axis]
    if shape[-1] is not None and sequence is not None and shape[-1] != sequence:
        raise ValueError(
            f"`positions` must give one position per token: its last axis has {shape[-1]} "
            f"entries but inputs have {sequence} along {along}. Received: "
            f"positions.shape={shape}, inputs.shape={tuple(inputs_shape)}."
        )
    if batch_axis is None:
        return
    batch = inputs_shape[0]
    if shape[batch_axis] is not None and batch is not None and shape[batch_axis] not in (1, batch):
        raise ValueError(
            f"`positions` has batch size {shape[batch_axis]} but inputs have {batch} along "
            f"axis 0. Received: positions.shape={shape}, inputs.shape={tuple(inputs_shape)}."
        )


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
