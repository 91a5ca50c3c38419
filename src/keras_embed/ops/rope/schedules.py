"""RoPE frequency schedules: one plain function per `rope_type`.

A *schedule* turns a rotary dimension and a base wavelength into the
`(inverse_frequencies, attention_scaling)` pair that fixes every angle:
position `p` rotates feature pair `i` by `p * inverse_frequencies[i]`, and
cosine and sine are multiplied by `attention_scaling`. Each schedule is
registered under the `rope_type` name transformers uses in
`keras_embed.ops.rope.registry.ROPE_TYPES`; its keyword-only arguments and their
defaults are its parameter table.

Static schedules return numpy `float32` tables, computed once per rotary
dimension. The two length-dependent ones (`"dynamic"`, `"longrope"`) also take
`sequence_length`, the largest position seen plus one: a Python or numpy
number gives numpy tables, a backend tensor (inside `jit` or `tf.function`)
gives a `float32` tensor.

The tables reproduce transformers' float32 arithmetic step by step (same
operation order and float32 roundings), with powers rounded correctly from
float64. They agree with transformers' to the last bit except where torch's
vectorised float32 `pow` is one unit in the last place off (about 1% of
entries on an AVX2 CPU; which ones depends on the CPU), so the difference is
at most one float32 ulp and our tables are the same on every backend and
machine.
"""

import math

import numpy as np
from keras import ops

from keras_embed.ops._backend import concrete_value


def _power(base, exponent):
    """`base ** exponent` with a float32 base, correctly rounded to float32.

    The exponent keeps its own precision: a float32 array stays float32, a
    Python float stays float64, as in torch's `tensor ** scalar`.
    """
    base = np.asarray(base, dtype=np.float32).astype(np.float64)
    return np.power(base, np.asarray(exponent, dtype=np.float64)).astype(np.float32)


def _exponents(rotary_dim):
    """`2i / d` for each feature pair, in float32 as transformers builds it."""
    # (rotary_dim // 2,)
    return np.arange(0, rotary_dim, 2, dtype=np.float32) / np.float32(rotary_dim)


def _base_inverse_frequencies(rotary_dim, max_wavelength):
    """`1 / max_wavelength ** (2i / d)`, the RoFormer frequencies."""
    # (rotary_dim // 2,)
    return np.float32(1.0) / _power(max_wavelength, _exponents(rotary_dim))


def _check_more_than_two(rotary_dim, rope_type):
    # The NTK exponent d / (d - 2) is undefined for a single feature pair.
    if rotary_dim <= 2:
        raise ValueError(
            f"rope_type='{rope_type}' needs a rotary dimension above 2. "
            f"Received: rotary_dim={rotary_dim}."
        )


def default_schedule(rotary_dim, max_wavelength):
    """Original RoPE.

    Reference: Su et al., "RoFormer: Enhanced Transformer with Rotary Position
    Embedding", 2021, https://arxiv.org/abs/2104.09864 (eq. 15).
    """
    return _base_inverse_frequencies(rotary_dim, max_wavelength), 1.0


def linear_schedule(rotary_dim, max_wavelength, *, factor):
    """Linear position interpolation: positions divided by `factor`.

    Reference: Chen et al., "Extending Context Window of Large Language Models
    via Positional Interpolation", 2023, https://arxiv.org/abs/2306.15595
    (also kaiokendev's SuperHOT, 2023). Dividing the frequencies equals
    dividing the positions, up to float32 rounding of the product.
    """
    return _base_inverse_frequencies(rotary_dim, max_wavelength) / np.float32(factor), 1.0


def ntk_schedule(rotary_dim, max_wavelength, *, factor):
    """Static NTK-aware scaling: base raised to `base * factor ** (d / (d - 2))`.

    Reference: bloc97, "NTK-Aware Scaled RoPE allows LLaMA models to have
    extended (8k+) context size without any fine-tuning", r/LocalLLaMA, 2023.
    """
    _check_more_than_two(rotary_dim, "ntk")
    base = max_wavelength * factor ** (rotary_dim / (rotary_dim - 2))
    return _base_inverse_frequencies(rotary_dim, base), 1.0


def dynamic_schedule(
    rotary_dim, max_wavelength, *, factor, max_position_embeddings, sequence_length=None
):
    """Dynamic NTK scaling: the NTK base follows the current length.

    With `L = max(sequence_length, max_position_embeddings)` the base becomes
    `base * (factor * L / max_position_embeddings - (factor - 1)) ** (d / (d - 2))`,
    which is the unscaled base while `L <= max_position_embeddings`.

    Reference: emozilla, "Dynamically Scaled RoPE further increases performance
    of long context LLaMA with zero fine-tuning", r/LocalLLaMA, 2023 (used by
    Qwen-7B); transformers' `"dynamic"` rope type.
    """
    _check_more_than_two(rotary_dim, "dynamic")
    if sequence_length is None:
        return _base_inverse_frequencies(rotary_dim, max_wavelength), 1.0
    known_length = concrete_value(sequence_length)
    if known_length is not None:
        if float(known_length) <= max_position_embeddings:
            return _base_inverse_frequencies(rotary_dim, max_wavelength), 1.0
        # transformers recomputes the base from a torch scalar, so in float32.
        ratio = np.float32(factor) * np.float32(known_length) / np.float32(
            max_position_embeddings
        ) - np.float32(factor - 1)
        base = np.float32(max_wavelength) * _power(ratio, rotary_dim / (rotary_dim - 2))
        return np.float32(1.0) / _power(base, _exponents(rotary_dim)), 1.0
    # Traced length: the same float32 chain with backend ops.
    length = ops.maximum(
        ops.cast(sequence_length, "float32"), float(max_position_embeddings)
    )
    ratio = length * float(np.float32(factor)) / float(max_position_embeddings)
    ratio = ratio - float(np.float32(factor - 1))
    exponent = float(np.float32(rotary_dim / (rotary_dim - 2)))
    base = float(np.float32(max_wavelength)) * ops.power(ratio, exponent)
    inverse_frequencies = 1.0 / ops.power(base, ops.convert_to_tensor(_exponents(rotary_dim)))
    return inverse_frequencies, 1.0


def _yarn_mscale(scale, mscale=1.0):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def yarn_schedule(
    rotary_dim,
    max_wavelength,
    *,
    factor,
    original_max_position_embeddings,
    beta_fast=32.0,
    beta_slow=1.0,
    mscale=None,
    mscale_all_dim=None,
    attention_factor=None,
    truncate=True,
):
    """YaRN: interpolate low frequencies, keep high ones, temper attention.

    Pairs that turn more than `beta_fast` times over the original context keep
    their frequency, pairs that turn fewer than `beta_slow` times are divided by
    `factor`, and a linear ramp blends the ones between. Cosine and sine are
    scaled by `attention_factor`, by default `0.1 * ln(factor) + 1` (or the
    DeepSeek ratio of two such terms when `mscale` and `mscale_all_dim` are set).

    Reference: Peng et al., "YaRN: Efficient Context Window Extension of Large
    Language Models", 2023, https://arxiv.org/abs/2309.00071 (sections 3.2-3.4).
    """
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(
                _yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim)
            )
        else:
            attention_factor = _yarn_mscale(factor)

    def correction_dim(rotations):
        # The pair index whose wavelength fits `rotations` turns in the context.
        return (
            rotary_dim
            * math.log(original_max_position_embeddings / (rotations * 2 * math.pi))
        ) / (2 * math.log(max_wavelength))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rotary_dim - 1)
    if low == high:
        high += 0.001  # a zero-width ramp would divide by zero

    # (rotary_dim // 2,)
    wavelength_powers = _power(max_wavelength, _exponents(rotary_dim))
    extrapolated = np.float32(1.0) / wavelength_powers
    interpolated = np.float32(1.0) / (np.float32(factor) * wavelength_powers)
    pair_index = np.arange(rotary_dim // 2, dtype=np.float32)
    ramp = np.clip((pair_index - np.float32(low)) / np.float32(high - low), 0, 1)
    extrapolation_weight = np.float32(1.0) - ramp
    inverse_frequencies = (
        interpolated * (np.float32(1.0) - extrapolation_weight)
        + extrapolated * extrapolation_weight
    )
    return inverse_frequencies.astype(np.float32), attention_factor


def llama3_schedule(
    rotary_dim,
    max_wavelength,
    *,
    factor,
    low_freq_factor,
    high_freq_factor,
    original_max_position_embeddings,
):
    """Llama 3.1 scaling: divide long wavelengths by `factor`, keep short ones.

    Wavelengths above `original_max_position_embeddings / low_freq_factor` are
    divided by `factor`, those below `original / high_freq_factor` are kept,
    and the band between is blended smoothly.

    Reference: Meta, "The Llama 3 Herd of Models", 2024,
    https://arxiv.org/abs/2407.21783, and `apply_scaling` in Meta's llama-models
    reference code.
    """
    inverse_frequencies = _base_inverse_frequencies(rotary_dim, max_wavelength)
    context = original_max_position_embeddings
    low_freq_wavelength = np.float32(context / low_freq_factor)
    high_freq_wavelength = np.float32(context / high_freq_factor)
    # transformers writes `c / tensor`, which torch evaluates as `(1 / tensor) * c`.
    wavelengths = (np.float32(1.0) / inverse_frequencies) * np.float32(2 * math.pi)
    scaled = np.where(
        wavelengths > low_freq_wavelength,
        inverse_frequencies / np.float32(factor),
        inverse_frequencies,
    )
    smooth = (
        (np.float32(1.0) / wavelengths) * np.float32(context) - np.float32(low_freq_factor)
    ) / np.float32(high_freq_factor - low_freq_factor)
    smoothed = (np.float32(1.0) - smooth) * scaled / np.float32(factor) + smooth * scaled
    is_medium = ~(wavelengths < high_freq_wavelength) & ~(wavelengths > low_freq_wavelength)
    return np.where(is_medium, smoothed, scaled).astype(np.float32), 1.0


def longrope_schedule(
    rotary_dim,
    max_wavelength,
    *,
    short_factor,
    long_factor,
    original_max_position_embeddings,
    factor=1.0,
    attention_factor=None,
    sequence_length=None,
):
    """LongRoPE: per-pair rescale factors, short or long by the largest position.

    Pair `i` gets `1 / (rescale[i] * base ** (2i / d))`, with `rescale` taken
    from `long_factor` once `sequence_length` (largest position seen plus one)
    exceeds `original_max_position_embeddings`, else from `short_factor`. So a
    cached decoding step past the original length uses the long factors even
    though its chunk is one token long. Cosine and sine are scaled by
    `attention_factor`, by default `sqrt(1 + ln(factor) / ln(original))`, where
    `factor` is the context extension ratio.

    Reference: Ding et al., "LongRoPE: Extending LLM Context Window Beyond 2
    Million Tokens", 2024, https://arxiv.org/abs/2402.13753; Phi-3 (Abdin et
    al., 2024, https://arxiv.org/abs/2404.14219).
    """
    for name, rescale in (("short_factor", short_factor), ("long_factor", long_factor)):
        if len(rescale) != rotary_dim // 2:
            raise ValueError(
                f"`{name}` must hold one number per rotary feature pair, "
                f"{rotary_dim // 2} for a rotary dimension of {rotary_dim}. "
                f"Received {len(rescale)} numbers."
            )
    if attention_factor is None:
        if factor <= 1.0:
            attention_factor = 1.0
        else:
            attention_factor = math.sqrt(
                1 + math.log(factor) / math.log(original_max_position_embeddings)
            )
    wavelength_powers = _power(max_wavelength, _exponents(rotary_dim))
    # (rotary_dim // 2,) each
    short = np.float32(1.0) / (np.asarray(short_factor, np.float32) * wavelength_powers)
    long = np.float32(1.0) / (np.asarray(long_factor, np.float32) * wavelength_powers)
    if sequence_length is None:
        return short, attention_factor
    known_length = concrete_value(sequence_length)
    if known_length is not None:
        chosen = long if float(known_length) > original_max_position_embeddings else short
        return chosen, attention_factor
    is_long = ops.cast(sequence_length, "float32") > float(original_max_position_embeddings)
    return ops.where(is_long, long, short), attention_factor


def proportional_schedule(rotary_dim, max_wavelength, *, factor=1.0, partial_rotary_factor=1.0):
    """Proportional RoPE: rotary frequencies on a fraction of the pairs, zero on the rest.

    The table is always `rotary_dim` (the whole head) wide. The first
    `int(partial_rotary_factor * rotary_dim // 2)` pairs get `1 / (base ** (2i / d))`
    with `d` the full width, not the rotated part, and the remaining pairs frequency
    zero, so they pass unrotated; all are divided by `factor`. Unlike partial rotary,
    the pairing (rotate-half over the full width) is the one of a fully rotated head.

    Reference: transformers' `"proportional"` rope type (5.24, Gemma 4's
    full-attention layers).
    """
    rotated_pairs = int(partial_rotary_factor * rotary_dim // 2)
    # (rotated_pairs,) then zeros up to (rotary_dim // 2,)
    exponents = np.arange(0, 2 * rotated_pairs, 2, dtype=np.float32) / np.float32(rotary_dim)
    rotated = np.float32(1.0) / _power(max_wavelength, exponents)
    inverse_frequencies = np.zeros(rotary_dim // 2, dtype=np.float32)
    inverse_frequencies[:rotated_pairs] = rotated
    return inverse_frequencies / np.float32(factor), 1.0
