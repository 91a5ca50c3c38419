"""Rotary layer arguments from a transformers config (v4 `rope_scaling`, v5 `rope_parameters`).

Which keys a rope type reads comes from its schedule's parameter table
(`keras_embed.ops.rope.registry.schedule_parameters`), so a new type needs
no change here.
"""

from keras_embed._validation import describe
from keras_embed.ops.rope.registry import REQUIRED
from keras_embed.ops.rope.registry import get_rope_type
from keras_embed.ops.rope.registry import schedule_parameters


def _first_given(*values):
    """The first value that is not `None` (transformers' fallback order)."""
    return next((value for value in values if value is not None), None)


def hf_config_dict(config):
    """`config` (a dict or a transformers config) as a dict."""
    if hasattr(config, "to_dict") and not isinstance(config, dict):
        config = config.to_dict()
    if not isinstance(config, dict):
        raise ValueError(
            "`config` must be a dict or a transformers config. "
            f"Received: config={describe(config)}."
        )
    return config


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
    config = hf_config_dict(config)
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
    entry = get_rope_type(rope_type)
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
