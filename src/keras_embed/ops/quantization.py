"""Weight-only int8 / int4 storage of embedding tables, in the layout of keras.

A table is quantised along its feature axis `d`: `(V, d)` tables (forward
lookup) per row, `(d, V)` kernels (untied reverse projection) per column.
The layouts, variable shapes and arithmetic are those of
`keras.layers.Embedding` and keras' reversible embedding in Keras 3.15, so a
model quantised here holds the same numbers as one quantised by keras:

- int8: `q = round(w * s)` with one scale `s = 127 / max|w|` per vector;
  `w ~ q / s`.
- int4 per channel (`block_size` None or -1): the same in `[-8, 7]`, two
  values packed per int8 byte along the feature axis.
- int4 grouped (`block_size > 0`): the feature axis is cut into groups of
  `block_size`; each group has a step `s` and a zero point `z` and
  `w ~ (q - z) * s`. `g_idx[i]` is the group of feature `i`.
"""

import keras
from keras import ops

INT4_RANGE = (-8, 7)


def is_grouped(block_size):
    return block_size is not None and block_size != -1


def quantize_matrix(matrix, mode, config, feature_axis):
    """Quantise a 2-D float matrix along `feature_axis` (numpy on the host).

    Args:
        matrix: `(V, d)` with `feature_axis=1`, or `(d, V)` with `feature_axis=0`.
        mode: `"int8"` or `"int4"`.
        config: a `keras.quantizers.QuantizationConfig` or `None`; its
            `weight_quantizer` replaces the default absmax quantizer and, for
            int4, its `block_size` chooses grouped storage.
        feature_axis: the axis of length `d`, reduced by the scales.

    Returns:
        `(values, scale, zero)`: int8 values (int4 ones packed two per byte
        along `feature_axis`), the scales (`(V,)` per channel, `(V, groups)`
        or `(groups, V)` grouped, groups along the feature side), and the
        zero points of grouped int4 (else `None`).
    """
    quantizers = keras.quantizers
    block_size = getattr(config, "block_size", None) if mode == "int4" else None
    if mode == "int4" and is_grouped(block_size):
        # keras' grouped quantiser cuts axis 0 into groups.
        features_first = matrix if feature_axis == 0 else ops.transpose(matrix)
        values, scale, zero = quantizers.abs_max_quantize_grouped_with_zero_point(
            features_first, block_size=block_size, value_range=INT4_RANGE, dtype="int8",
            to_numpy=True,
        )
        if feature_axis == 1:
            values, scale, zero = (ops.transpose(t) for t in (values, scale, zero))
    else:
        axis = -1 if feature_axis == 1 else 0
        if mode == "int8":
            default = quantizers.AbsMaxQuantizer(axis=axis)
        else:
            default = quantizers.AbsMaxQuantizer(
                axis=axis, value_range=INT4_RANGE, output_dtype="int8"
            )
        quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(config, default)
        if feature_axis == 0 and isinstance(quantizer, quantizers.AbsMaxQuantizer):
            # A custom quantizer is written for `(V, d)` rows; a `(d, V)` kernel
            # is reduced over its columns with the same range and epsilon.
            values, scale = quantizer(matrix, axis=0, to_numpy=True)
        else:
            values, scale = quantizer(matrix, to_numpy=True)
        scale, zero = ops.squeeze(scale, axis=feature_axis), None
    if mode == "int4":
        values, _, _ = quantizers.pack_int4(values, axis=feature_axis)
    return values, scale, zero


def dequantize_per_channel(values, scale, axis, dtype):
    """`values / scale`, the scale broadcast along `axis` (the feature axis).

    The values are cast to `dtype`; the float32 scale is not, so under a
    bfloat16 policy the division (like keras') happens in float32.
    """
    return ops.divide(ops.cast(values, dtype), ops.expand_dims(scale, axis))


def dequantize_grouped(values, scale, zero, g_idx, group_axis, dtype):
    """`(values - zero[g]) * scale[g]` with `g = g_idx` taken along `group_axis`."""
    groups = ops.cast(g_idx, "int32")
    scale = ops.take(scale, groups, axis=group_axis)
    zero = ops.cast(ops.take(zero, groups, axis=group_axis), scale.dtype)
    return ops.multiply(ops.subtract(ops.cast(values, dtype), zero), scale)
