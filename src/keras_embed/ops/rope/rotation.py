"""The rotation of RoPE: cosine and sine tables of the angles, and the feature rotation.

Position `p` rotates feature pair `i` by `p * inverse_frequencies[i]` (the
frequencies come from `keras_embed.ops.rope.registry.rope_frequencies`).
`rope_cos_sin` / `pair_cos_sin` turn positions into cosine and sine tables,
`apply_rope` rotates the features (with a backend kernel from
`_KERNELS` where one wins), and
`rotate_in_float32` is the dtype rule every rotary layer follows.
"""

import keras
from keras import ops

from keras_embed.ops._backend import kernels_for_backend

# Each offers `materialize(tables)` and, for a fast rotation, `applies(inputs, cos, sin)`
# and `apply_rope(inputs, cos, sin, interleaved)`.
_KERNELS = {"jax": "keras_embed.ops.rope._jax", "torch": "keras_embed.ops.rope._torch"}


def rope_cos_sin(positions, inverse_frequencies, attention_scaling=1.0):
    """Cosine and sine of every position-frequency angle, in float32.

    Args:
        positions: float or int tensor of any shape `(...)`.
        inverse_frequencies: `(rotary_dim // 2,)`.
        attention_scaling: multiplies both results (YaRN, LongRoPE).

    Returns:
        `cos, sin`, each `(..., rotary_dim // 2)` float32.
    """
    positions = ops.expand_dims(ops.cast(positions, "float32"), -1)
    return pair_cos_sin(positions, inverse_frequencies, attention_scaling)


def pair_cos_sin(pair_positions, inverse_frequencies, attention_scaling=1.0):
    """`rope_cos_sin` where each feature pair has its own position (M-RoPE, axial).

    Args:
        pair_positions: float tensor broadcastable to `(..., rotary_dim // 2)`.
        inverse_frequencies: `(rotary_dim // 2,)`, or broadcastable to the
            angles (e.g. one row per head).
        attention_scaling: multiplies both results.

    Returns:
        `cos, sin`, each `(..., rotary_dim // 2)` float32.
    """
    pair_positions = ops.cast(pair_positions, "float32")
    inverse_frequencies = ops.cast(inverse_frequencies, "float32")
    # One float32 product per angle, rounded once, as transformers does.
    angles = pair_positions * inverse_frequencies
    cos, sin = ops.cos(angles), ops.sin(angles)
    if attention_scaling != 1.0:
        cos = cos * attention_scaling
        sin = sin * attention_scaling
    return cos, sin


def _swap_pairs(inputs, half, interleaved):
    """Exchange the two members of every feature pair (a permutation, no math)."""
    # Reversing a length-2 axis beats slicing + concatenating the minor axis
    # under XLA and equals keras-hub's stack + reshape in speed.
    leading = tuple(ops.shape(inputs)[:-1])
    paired_shape = leading + ((half, 2) if interleaved else (2, half))
    paired = ops.reshape(inputs, paired_shape)
    return ops.reshape(ops.flip(paired, axis=-1 if interleaved else -2), ops.shape(inputs))


def _full_width_tables(cos, sin, interleaved):
    """`(..., half)` cos/sin -> `(..., 2 * half)` tables with the sign folded into sine.

    With them the rotation is `x * cos_table + swap(x) * signed_sin`, e.g. for
    rotate-half `[x1, x2] * [c, c] + [x2, x1] * [-s, s]`, exactly transformers'
    `x * cos + rotate_half(x) * sin`.
    """
    if interleaved:
        cos_table = ops.repeat(cos, 2, axis=-1)
        signed_sin = ops.reshape(
            ops.stack([-sin, sin], axis=-1), tuple(ops.shape(sin)[:-1]) + (2 * sin.shape[-1],)
        )
    else:
        cos_table = ops.concatenate([cos, cos], axis=-1)
        signed_sin = ops.concatenate([-sin, sin], axis=-1)
    return _materialize(cos_table, signed_sin)


def _materialize(*tables):
    """Compute the tables once before the per-element rotation uses them."""
    kernels = kernels_for_backend(_KERNELS)
    return tables if kernels is None else kernels.materialize(tables)


def apply_rope(inputs, cos, sin, interleaved=False):
    """Rotate the first `2 * cos.shape[-1]` features of `inputs`; keep the rest.

    Args:
        inputs: `(..., features)`.
        cos, sin: broadcastable to `(..., rotary_dim // 2)`, same dtype as
            `inputs`.
        interleaved: `False` pairs feature `i` with `i + rotary_dim // 2`
            (rotate-half, GPT-NeoX / Llama); `True` pairs `2i` with `2i + 1`
            (GPT-J / RoFormer).

    Returns:
        `(..., features)`, the same shape and dtype as `inputs`.
    """
    kernels = kernels_for_backend(_KERNELS)
    if kernels is not None and kernels.applies(inputs, cos, sin):
        return kernels.apply_rope(inputs, cos, sin, interleaved)
    return apply_rope_portable(inputs, cos, sin, interleaved)


def apply_rope_portable(inputs, cos, sin, interleaved=False):
    """`apply_rope` in plain `keras.ops`, the reference for every fast path."""
    half = cos.shape[-1]
    rotary_dim = 2 * half
    if rotary_dim < inputs.shape[-1]:
        rotated, passed = ops.split(inputs, [rotary_dim], axis=-1)
    else:
        rotated, passed = inputs, None
    cos_table, signed_sin = _full_width_tables(cos, sin, interleaved)
    rotated = rotated * cos_table + _swap_pairs(rotated, half, interleaved) * signed_sin
    if passed is None:
        return rotated
    return ops.concatenate([rotated, passed], axis=-1)


def rotate_in_float32(inputs, tables, compute_dtype, rotate):
    """`rotate(inputs, *tables)` in float32 (float64 if that is the compute dtype), rounded once.

    Every rotary layer rotates this way: inputs and tables are cast to the math
    dtype where they differ from it, and the result is cast once to
    `compute_dtype` (bfloat16 under `mixed_bfloat16`).
    """
    math_dtype = "float64" if compute_dtype == "float64" else "float32"
    if keras.backend.standardize_dtype(inputs.dtype) != math_dtype:
        inputs = ops.cast(inputs, math_dtype)
    tables = [
        table if keras.backend.standardize_dtype(table.dtype) == math_dtype else ops.cast(table, math_dtype)
        for table in tables
    ]
    outputs = rotate(inputs, *tables)
    if keras.backend.standardize_dtype(outputs.dtype) != compute_dtype:
        outputs = ops.cast(outputs, compute_dtype)
    return outputs


def rotate_along(inputs, cos, sin, table_axes, compute_dtype, interleaved=False):
    """`apply_rope` by tables whose axes lie along `table_axes` of `inputs`, in float32.

    Args:
        inputs: `(..., features)`, the features last.
        cos, sin: one axis per entry of `table_axes`, e.g. `(batch, seq, rotary_dim // 2)`
            for `table_axes=(0, 1, rank - 1)`; they broadcast over the other axes
            of `inputs` (heads).
        table_axes: increasing axes of `inputs`, ending with the feature axis.
        compute_dtype: the dtype of the result (`rotate_in_float32`).
        interleaved: as for `apply_rope`.

    Returns:
        `inputs` rotated, of dtype `compute_dtype`.
    """
    for axis in range(len(inputs.shape)):
        if axis not in table_axes:
            cos, sin = ops.expand_dims(cos, axis), ops.expand_dims(sin, axis)
    return rotate_in_float32(
        inputs,
        (cos, sin),
        compute_dtype,
        lambda x, cos, sin: apply_rope(x, cos, sin, interleaved=interleaved),
    )
