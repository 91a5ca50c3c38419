"""The rope-type registry: one row per `rope_type`, its parameter table and checks.

`ROPE_TYPES` maps each `rope_type` name to its schedule (in
`keras_embed.ops.rope.schedules`) and how to treat it; a schedule's
keyword-only arguments are its parameter table, read by `schedule_parameters`.
`check_rope_parameters` validates a layer's scheme arguments against that
table, and `rope_frequencies` runs the schedule registered as a `rope_type`.
"""

import functools
import inspect
from typing import Callable
from typing import NamedTuple
from typing import Optional

from keras_embed._validation import check_bool
from keras_embed._validation import check_positive_float
from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed._validation import is_number
from keras_embed.ops.rope.schedules import default_schedule
from keras_embed.ops.rope.schedules import dynamic_schedule
from keras_embed.ops.rope.schedules import linear_schedule
from keras_embed.ops.rope.schedules import llama3_schedule
from keras_embed.ops.rope.schedules import longrope_schedule
from keras_embed.ops.rope.schedules import ntk_schedule
from keras_embed.ops.rope.schedules import proportional_schedule
from keras_embed.ops.rope.schedules import yarn_schedule


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
    return get_rope_type(rope_type).schedule


def get_rope_type(rope_type):
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
    signature = inspect.signature(get_rope_type(rope_type).schedule).parameters
    return {
        name: parameter.default
        for name, parameter in signature.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and name != "sequence_length"
        and name not in _LAYER_SETTINGS
    }


def takes_layer_setting(rope_type, name):
    """Whether `rope_type`'s schedule takes the layer setting `name` itself."""
    signature = inspect.signature(get_rope_type(rope_type).schedule).parameters
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
    entry = get_rope_type(rope_type)
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
