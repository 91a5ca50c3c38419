"""Rotary position embedding (RoPE): frequency schedules and the rotation.

A *schedule* turns a rotary dimension and a base wavelength into the
`(inverse_frequencies, attention_scaling)` pair that fixes every angle:
position `p` rotates feature pair `i` by `p * inverse_frequencies[i]`, and
cosine and sine are multiplied by `attention_scaling`. Each scheme is one plain
function in `ROPE_TYPES`, keyed by the `rope_type` name transformers uses.

A new rope type is one schedule function, whose keyword-only arguments and
their defaults are its parameter table, and one row in `ROPE_TYPES`.

Static schedules return numpy `float32` tables, computed once per rotary
dimension. The two length-dependent ones (`"dynamic"`, `"longrope"`, listed in
`LENGTH_DEPENDENT_SCHEDULES`) also take `sequence_length`, the largest position
seen plus one: a Python or numpy number gives numpy tables, a backend tensor
(inside `jit` or `tf.function`) gives a `float32` tensor.

The tables reproduce transformers' float32 arithmetic step by step (same
operation order and float32 roundings), with powers rounded correctly from
float64. They agree with transformers' to the last bit except where torch's
vectorised float32 `pow` is one unit in the last place off (about 1% of
entries on an AVX2 CPU; which ones depends on the CPU), so the difference is
at most one float32 ulp and our tables are the same on every backend and
machine.
"""

import functools
import inspect
import math
from typing import Callable
from typing import NamedTuple
from typing import Optional

import numpy as np
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_positive_float
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed._validation import is_number
from keras_embed.ops._backend import concrete_value
from keras_embed.ops._backend import rope_kernels


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


# --- the registry -------------------------------------------------------------------------
#
# A rope type is one schedule function and one `RopeType` row. The schedule's keyword-only
# arguments (except `sequence_length`) ARE its parameter table: their names, and their
# defaults (none = required). Constructor validation, `get_config` and `from_hf_config`
# read that table through `schedule_parameters`; nothing else lists a type's parameters.


class RopeType(NamedTuple):
    """One registered rope type.

    schedule: `(rotary_dim, max_wavelength, **parameters) -> (inverse_frequencies,
        attention_scaling)`; its keyword-only arguments declare the parameters.
    length_dependent: the tables depend on the largest position of the call, passed as
        `sequence_length`.
    check: optional `(parameters) -> None` for constraints between parameters; raises
        `ValueError`.
    factor_from_context: in a transformers config, a missing `factor` is the context
        extension ratio `max_position_embeddings / original_max_position_embeddings`.
    """

    schedule: Callable
    length_dependent: bool = False
    check: Optional[Callable] = None
    factor_from_context: bool = False


def _check_llama3(parameters):
    if not parameters["high_freq_factor"] > parameters["low_freq_factor"]:
        raise ValueError(
            "`high_freq_factor` must be greater than `low_freq_factor`. Received: "
            f"low_freq_factor={parameters['low_freq_factor']}, "
            f"high_freq_factor={parameters['high_freq_factor']}."
        )


def _check_longrope(parameters):
    if len(parameters["short_factor"]) != len(parameters["long_factor"]):
        raise ValueError(
            "`short_factor` and `long_factor` must have the same length. Received "
            f"{len(parameters['short_factor'])} and {len(parameters['long_factor'])} numbers."
        )


ROPE_TYPES = {
    "default": RopeType(default_schedule),
    "linear": RopeType(linear_schedule),
    "ntk": RopeType(ntk_schedule),
    "dynamic": RopeType(dynamic_schedule, length_dependent=True),
    "yarn": RopeType(yarn_schedule, factor_from_context=True),
    "llama3": RopeType(llama3_schedule, check=_check_llama3),
    "longrope": RopeType(
        longrope_schedule, length_dependent=True, check=_check_longrope, factor_from_context=True
    ),
    "proportional": RopeType(proportional_schedule),
}

# Name -> schedule function, for callers that only need the math.
ROPE_SCHEDULES = {name: entry.schedule for name, entry in ROPE_TYPES.items()}

# Schedules whose tables depend on the largest position of the current call.
LENGTH_DEPENDENT_SCHEDULES = frozenset(
    name for name, entry in ROPE_TYPES.items() if entry.length_dependent
)

# Marks a parameter without a default in `schedule_parameters`.
REQUIRED = inspect.Parameter.empty

# The layer's own setting that a schedule may also take: it then covers the full width.
_LAYER_SETTINGS = frozenset({"partial_rotary_factor"})


def get_rope_schedule(rope_type):
    """The schedule function registered as `rope_type`, or a clear error."""
    return _get_rope_type(rope_type).schedule


def _get_rope_type(rope_type):
    if not isinstance(rope_type, str) or rope_type not in ROPE_TYPES:
        raise ValueError(
            f"Unknown `rope_type`. Expected one of {sorted(ROPE_TYPES)}. "
            f"Received: rope_type={describe(rope_type)}."
        )
    return ROPE_TYPES[rope_type]


def schedule_parameters(rope_type):
    """`{name: default}` of the parameters `rope_type` takes, `REQUIRED` if none.

    Read from the schedule's keyword-only arguments; `sequence_length` (given per
    call) and the layer settings a schedule may take (`partial_rotary_factor`) are
    not parameters.
    """
    signature = inspect.signature(_get_rope_type(rope_type).schedule).parameters
    return {
        name: parameter.default
        for name, parameter in signature.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and name != "sequence_length"
        and name not in _LAYER_SETTINGS
    }


def takes_layer_setting(rope_type, name):
    """Whether `rope_type`'s schedule takes the layer setting `name` itself."""
    signature = inspect.signature(_get_rope_type(rope_type).schedule).parameters
    return name in _LAYER_SETTINGS and name in signature


def check_max_wavelength(max_wavelength):
    """The base must be a real number above 1, or frequencies do not decrease."""
    if not is_number(max_wavelength) or not max_wavelength > 1:
        raise ValueError(
            "`max_wavelength` must be a number greater than 1. "
            f"Received: max_wavelength={describe(max_wavelength)}."
        )
    return max_wavelength


def _positive_numbers(name, value):
    if (
        isinstance(value, (str, bytes, dict))
        or not hasattr(value, "__len__")
        or len(value) == 0
        or not all(is_number(v) and v > 0 for v in value)
    ):
        raise ValueError(
            f"`{name}` must be a non-empty list of positive numbers. "
            f"Received: {name}={describe(value)}."
        )
    return [float(v) for v in value]


# How each parameter name is checked, whichever schedule takes it. A schedule with a
# parameter of a new name adds one row here.
PARAMETER_CHECKS = {
    "factor": check_positive_float,
    "attention_factor": check_positive_float,
    "beta_fast": check_positive_float,
    "beta_slow": check_positive_float,
    "mscale": check_positive_float,
    "mscale_all_dim": check_positive_float,
    "low_freq_factor": check_positive_float,
    "high_freq_factor": check_positive_float,
    "max_position_embeddings": check_positive_int,
    "original_max_position_embeddings": check_positive_int,
    "short_factor": _positive_numbers,
    "long_factor": _positive_numbers,
    "truncate": functools.partial(check_bool, expected="a bool"),
}


def _parameter_defaults():
    """Every parameter name of every schedule, with the default the schedules give it."""
    defaults = {}
    for rope_type in ROPE_TYPES:
        for name, default in schedule_parameters(rope_type).items():
            if default is not REQUIRED:
                defaults[name] = default
            else:
                defaults.setdefault(name, None)
    return defaults


# `{name: default}` over all schedules: the scheme keyword arguments a layer accepts.
# A name no schedule defaults (e.g. `original_max_position_embeddings`) defaults to `None`.
PARAMETER_DEFAULTS = _parameter_defaults()


def check_rope_parameters(rope_type, parameters):
    """Validate scheme parameters; return every parameter `rope_type` takes.

    Args:
        rope_type: a key of `ROPE_TYPES`.
        parameters: dict from parameter names to values, `None` meaning "not given".
            A parameter the scheme does not take is an error unless it is `None` or
            holds its default in `PARAMETER_DEFAULTS`, so a setting is never silently
            ignored (and configs that list every parameter still load).

    Returns:
        `{name: value}` for each parameter of `schedule_parameters(rope_type)`, in
        that order, with defaults filled in: the keyword arguments of the schedule.

    Raises:
        ValueError: unknown `rope_type`, a required parameter missing, a malformed
            value, or a parameter the scheme ignores was set.
    """
    entry = _get_rope_type(rope_type)
    accepted = schedule_parameters(rope_type)
    for name, value in parameters.items():
        if name not in PARAMETER_CHECKS:
            raise ValueError(
                f"Unknown rope parameter `{name}`. Expected one of {sorted(PARAMETER_CHECKS)}."
            )
        if value is None:
            continue
        value = PARAMETER_CHECKS[name](name, value)
        if name not in accepted and value != PARAMETER_DEFAULTS.get(name):
            raise ValueError(
                f"`{name}` is not used by rope_type='{rope_type}' (it uses "
                f"{sorted(accepted) or 'no parameters'}). Received: {name}={describe(value)}."
            )
    missing = sorted(
        name
        for name, default in accepted.items()
        if default is REQUIRED and parameters.get(name) is None
    )
    if missing:
        raise ValueError(
            f"rope_type='{rope_type}' requires "
            f"{', '.join(f'`{name}`' for name in missing)}, which "
            f"{'was' if len(missing) == 1 else 'were'} not given."
        )
    checked = {}
    for name, default in accepted.items():
        value = parameters.get(name)
        checked[name] = default if value is None else PARAMETER_CHECKS[name](name, value)
    if entry.check is not None:
        entry.check(checked)
    return checked


def _first_given(*values):
    """The first value that is not `None` (transformers' fallback order)."""
    return next((value for value in values if value is not None), None)


def arguments_from_hf_config(config, layer_type=None, type_aliases=None):
    """Rotary layer arguments from a transformers config, and its rope parameters.

    Reads the v5 form (`config["rope_parameters"]` holding `rope_type`,
    `rope_theta`, `factor`, ..., possibly nested by layer type) and the v4 form
    (top-level `rope_theta` plus an optional `rope_scaling` dict, with `"type"`
    or `"rope_type"`), and fills the fallbacks transformers applies: `rope_theta`
    10000, `original_max_position_embeddings` from a top-level key or
    `max_position_embeddings`, and for the types with `factor_from_context` a
    missing `factor` from `max_position_embeddings / original_max_position_embeddings`.
    Which keys to read comes from the schedule's parameter table.

    Args:
        config: dict or an object with `to_dict()` (a transformers config).
        layer_type: key of a per-layer-type `rope_parameters` dict.
        type_aliases: optional `{name in the config: registered rope_type}`.

    Returns:
        `(arguments, rope_parameters)`: keyword arguments of `RotaryEmbedding`
        (`max_wavelength`, `scaling_factor`, `rope_type`, `partial_rotary_factor`
        and the scheme's parameters) and the raw rope parameters dict read.
    """
    if hasattr(config, "to_dict") and not isinstance(config, dict):
        config = config.to_dict()
    if not isinstance(config, dict):
        raise ValueError(
            "`config` must be a dict or a transformers config. "
            f"Received: config={describe(config)}."
        )
    parameters = config.get("rope_parameters")
    if parameters is None:
        parameters = dict(config.get("rope_scaling") or {})
    else:
        parameters = dict(parameters)
        if "rope_type" not in parameters and "type" not in parameters and any(
            isinstance(value, dict) for value in parameters.values()
        ):
            nested = sorted(k for k, v in parameters.items() if isinstance(v, dict))
            if layer_type not in nested:
                raise ValueError(
                    "`rope_parameters` is nested by layer type; pass `layer_type`, "
                    f"one of {nested}. Received: layer_type={describe(layer_type)}."
                )
            parameters = dict(parameters[layer_type])
    rope_type = parameters.get("rope_type", parameters.get("type", "default"))
    rope_type = (type_aliases or {}).get(rope_type, rope_type)
    entry = _get_rope_type(rope_type)
    theta = _first_given(
        parameters.get("rope_theta"),
        config.get("rope_theta"),
        config.get("rotary_emb_base"),
        10000.0,
    )
    partial = _first_given(
        parameters.get("partial_rotary_factor"),
        config.get("partial_rotary_factor"),
        config.get("rotary_pct"),
        1.0,
    )
    accepted = schedule_parameters(rope_type)
    values = {name: parameters.get(name) for name in accepted}
    max_position = config.get("max_position_embeddings")
    if "max_position_embeddings" in values:
        values["max_position_embeddings"] = max_position
    if "original_max_position_embeddings" in values:
        # transformers prefers a top-level value (Phi-3), then falls back to the max length.
        values["original_max_position_embeddings"] = _first_given(
            config.get("original_max_position_embeddings"),
            values["original_max_position_embeddings"],
            max_position,
        )
    if entry.factor_from_context and values.get("factor") is None:
        if max_position is not None and values["original_max_position_embeddings"]:
            values["factor"] = max_position / values["original_max_position_embeddings"]
    missing = [
        name for name, default in accepted.items() if default is REQUIRED and values[name] is None
    ]
    if missing:
        raise ValueError(
            f"The config for rope_type='{rope_type}' is missing "
            f"{', '.join(repr(name) for name in missing)} (looked in `rope_parameters` / "
            "`rope_scaling` and at the top level)."
        )
    arguments = {name: value for name, value in values.items() if value is not None}
    if "factor" in arguments:
        arguments["scaling_factor"] = arguments.pop("factor")
    arguments.update(max_wavelength=theta, rope_type=rope_type, partial_rotary_factor=partial)
    return arguments, parameters


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
    entry = _get_rope_type(rope_type)
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
