"""Rotary position embedding (RoPE): frequency schedules, their registry, and the rotation.

One module per concern, each name defined in exactly one of them:

- `schedules`: one plain function per `rope_type`, `(rotary_dim, max_wavelength,
  **parameters) -> (inverse_frequencies, attention_scaling)`.
- `registry`: `ROPE_TYPES`, the schedules' parameter tables and checks, and
  `rope_frequencies`, which runs the schedule registered as a `rope_type`.
- `hf_config`: rotary layer arguments from a transformers config.
- `rotation`: cosine and sine tables and `apply_rope`, the rotation itself.
- `scheme`: what the scaled rotary layers share at call time: `RopeScheme`
  (checked parameters, tables cached per size or computed per call) and the
  position rule.
- `axial`, `multimodal`, `lie`: positions on a grid (RoPE-Axial, RoPE-Mixed),
  in time, height and width (M-RoPE), and as Lie-group rotations (LieRE).
- `_jax`, `_torch`: backend kernels of `apply_rope`, picked by
  `rotation._KERNELS` (through `_backend.kernels_for_backend`).

A new rope type is one function in `schedules` and one row in
`registry.ROPE_TYPES`. The library imports each name from its module; the
names below also load from this package on first use (`from
keras_embed.ops.rope import apply_rope`), which keeps the package free of a
backend until one is needed and lets `_backend` load the kernels without
importing the rotation back.
"""

from keras_embed._lazy import lazy_exports

_REGISTRY = "keras_embed.ops.rope.registry"
_ROTATION = "keras_embed.ops.rope.rotation"
_SCHEDULES = "keras_embed.ops.rope.schedules"

_PUBLIC = {
    "LENGTH_DEPENDENT_SCHEDULES": _REGISTRY,
    "PARAMETER_CHECKS": _REGISTRY,
    "PARAMETER_DEFAULTS": _REGISTRY,
    "REQUIRED": _REGISTRY,
    "ROPE_SCHEDULES": _REGISTRY,
    "ROPE_TYPES": _REGISTRY,
    "RopeType": _REGISTRY,
    "check_max_wavelength": _REGISTRY,
    "check_rope_parameters": _REGISTRY,
    "get_rope_schedule": _REGISTRY,
    "get_rope_type": _REGISTRY,
    "rope_frequencies": _REGISTRY,
    "schedule_parameters": _REGISTRY,
    "takes_layer_setting": _REGISTRY,
    "arguments_from_hf_config": "keras_embed.ops.rope.hf_config",
    "apply_rope": _ROTATION,
    "apply_rope_portable": _ROTATION,
    "pair_cos_sin": _ROTATION,
    "rope_cos_sin": _ROTATION,
    "rotate_in_float32": _ROTATION,
    "default_schedule": _SCHEDULES,
    "dynamic_schedule": _SCHEDULES,
    "linear_schedule": _SCHEDULES,
    "llama3_schedule": _SCHEDULES,
    "longrope_schedule": _SCHEDULES,
    "ntk_schedule": _SCHEDULES,
    "proportional_schedule": _SCHEDULES,
    "yarn_schedule": _SCHEDULES,
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
