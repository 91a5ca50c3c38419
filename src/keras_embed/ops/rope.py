"""Rotary position embedding (RoPE): frequency tables and the rotation.

A *schedule* (`keras_embed.ops.rope_schedules`) turns a rotary dimension and a
base wavelength into `(inverse_frequencies, attention_scaling)`; position `p`
rotates feature pair `i` by `p * inverse_frequencies[i]`. `rope_frequencies`
runs the schedule registered as a `rope_type` (`keras_embed.ops.rope_config`),
`rope_cos_sin` / `pair_cos_sin` turn positions into cosine and sine tables, and
`apply_rope` rotates the features (with a backend fast path where one wins).

A new rope type is one schedule function in `rope_schedules`, whose
keyword-only arguments and their defaults are its parameter table, and one row
in `rope_config.ROPE_TYPES`. The schedules' and the registry's public names are
re-exported here, so `keras_embed.ops.rope` stays the one module callers import.
"""

import keras
from keras import ops

from keras_embed.ops._backend import rope_kernels
# The schedules and the registry are re-exported: callers use `rope.<name>`.
from keras_embed.ops.rope_config import LENGTH_DEPENDENT_SCHEDULES
from keras_embed.ops.rope_config import PARAMETER_CHECKS
from keras_embed.ops.rope_config import PARAMETER_DEFAULTS
from keras_embed.ops.rope_config import REQUIRED
from keras_embed.ops.rope_config import ROPE_SCHEDULES
from keras_embed.ops.rope_config import ROPE_TYPES
from keras_embed.ops.rope_config import RopeType
from keras_embed.ops.rope_config import arguments_from_hf_config
from keras_embed.ops.rope_config import check_max_wavelength
from keras_embed.ops.rope_config import check_rope_parameters
from keras_embed.ops.rope_config import get_rope_schedule
from keras_embed.ops.rope_config import get_rope_type
from keras_embed.ops.rope_config import schedule_parameters
from keras_embed.ops.rope_config import takes_layer_setting
from keras_embed.ops.rope_schedules import default_schedule
from keras_embed.ops.rope_schedules import dynamic_schedule
from keras_embed.ops.rope_schedules import linear_schedule
from keras_embed.ops.rope_schedules import llama3_schedule
from keras_embed.ops.rope_schedules import longrope_schedule
from keras_embed.ops.rope_schedules import ntk_schedule
from keras_embed.ops.rope_schedules import proportional_schedule
from keras_embed.ops.rope_schedules import yarn_schedule

__all__ = [
    "LENGTH_DEPENDENT_SCHEDULES",
    "PARAMETER_CHECKS",
    "PARAMETER_DEFAULTS",
    "REQUIRED",
    "ROPE_SCHEDULES",
    "ROPE_TYPES",
    "RopeType",
    "apply_rope",
    "apply_rope_portable",
    "arguments_from_hf_config",
    "check_max_wavelength",
    "check_rope_parameters",
    "default_schedule",
    "dynamic_schedule",
    "get_rope_schedule",
    "get_rope_type",
    "linear_schedule",
    "llama3_schedule",
    "longrope_schedule",
    "ntk_schedule",
    "pair_cos_sin",
    "proportional_schedule",
    "rope_cos_sin",
    "rope_frequencies",
    "schedule_parameters",
    "takes_layer_setting",
    "yarn_schedule",
]


def rope_frequencies(
    rope_type, rotary_dim, max_wavelength, parameters, sequence_length=None,
    partial_rotary_factor=1.0,
):
    """`(inverse_frequencies, attention_scaling)` of `rope_type` for `rotary_dim`.

    Args:
        rope_type: a key of `ROPE_TYPES`.
        rotary_dim: even number of rotated features.
        max_wavelength: the base (`rope_theta` in transformers).
        parameters: keyword parameters of the schedule, as returned by
            `check_rope_parameters`.
        sequence_length: largest position seen plus one, for the schedules in
            `LENGTH_DEPENDENT_SCHEDULES`; ignored by the others.
        partial_rotary_factor: passed on to the schedules that take it
            (`takes_layer_setting`); the others ignore it, their caller having
            already narrowed `rotary_dim`.

    Returns:
        `inverse_frequencies` of shape `(rotary_dim // 2,)` in float32 (numpy
        unless `sequence_length` is a traced tensor) and `attention_scaling`, a
        Python float.
    """
    entry = get_rope_type(rope_type)
    arguments = dict(parameters)
    if entry.length_dependent:
        arguments["sequence_length"] = sequence_length
    if takes_layer_setting(rope_type, "partial_rotary_factor"):
        arguments["partial_rotary_factor"] = partial_rotary_factor
    return entry.schedule(rotary_dim, max_wavelength, **arguments)


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
    kernels = rope_kernels()
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
    kernels = rope_kernels()
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
