"""What the scaled rotary layers share at call time: the frequency scheme and the position checks.

`RotaryEmbedding` and `MultimodalRotaryEmbedding` take the same scheme
arguments (`max_wavelength`, `scaling_factor`, `rope_type` and the schedule's
parameters) and turn them into tables the same way: a static schedule once
per rotary dimension, a length-dependent one per call from the largest
position plus one. `RopeScheme` holds that; each layer keeps its own axes
and position layout and checks them with `ops.positions.check_positions_fit`.
"""

import numpy as np
from keras import ops

from keras_embed._validation import check_positive_float
from keras_embed.ops._backend import concrete_value
from keras_embed.ops.rope.registry import LENGTH_DEPENDENT_SCHEDULES
from keras_embed.ops.rope.registry import PARAMETER_DEFAULTS
from keras_embed.ops.rope.registry import check_max_wavelength
from keras_embed.ops.rope.registry import check_rope_parameters
from keras_embed.ops.rope.registry import rope_frequencies
from keras_embed.ops.rope.registry import takes_layer_setting


def pop_scheme_arguments(kwargs):
    """Remove the schedules' parameters (`beta_fast`, ...) from a layer's `kwargs`; return them.

    The names are the schedules' own tables (`PARAMETER_DEFAULTS`); what is left
    goes to `keras.layers.Layer`.
    """
    return {name: kwargs.pop(name) for name in list(kwargs) if name in PARAMETER_DEFAULTS}


def largest_position_plus_one(positions, start_index=0, sequence_length=None):
    """The `sequence_length` a length-dependent schedule sees: largest position plus one.

    A Python float when the values are known now, else a float32 scalar tensor;
    `None` for an empty `positions`. Without `positions`, the call covers
    `start_index + arange(sequence_length)`.
    """
    if positions is None:
        start = concrete_value(start_index)
        if start is not None and isinstance(sequence_length, int):
            return float(start) + sequence_length
        return ops.cast(start_index, "float32") + ops.cast(sequence_length, "float32")
    values = concrete_value(positions)
    if values is not None:
        return float(np.max(values)) + 1 if values.size else None
    return ops.max(ops.cast(positions, "float32")) + 1


class RopeScheme:
    """A rotary layer's frequency scheme: checked parameters and the tables they give.

    Args:
        rope_type: a key of `ROPE_TYPES`.
        max_wavelength: number above 1, the base.
        scaling_factor: positive number, the schedule's `factor`.
        parameters: the schedule's other parameters as the layer received
            them (`pop_scheme_arguments`), `None` meaning "not given".
        partial_rotary_factor: the layer's setting, for schedules that take it
            themselves (`covers_full_width`).
    """

    def __init__(
        self, rope_type, max_wavelength, scaling_factor, parameters, partial_rotary_factor=1.0
    ):
        check_max_wavelength(max_wavelength)
        check_positive_float("scaling_factor", scaling_factor)
        # {name: value} of every parameter the schedule takes, defaults filled in.
        self.parameters = check_rope_parameters(rope_type, {"factor": scaling_factor, **parameters})
        self.rope_type = rope_type
        self.max_wavelength = max_wavelength
        self.partial_rotary_factor = partial_rotary_factor
        # The schedule rotates part of the pairs itself and its table covers every feature.
        self.covers_full_width = takes_layer_setting(rope_type, "partial_rotary_factor")
        self.length_dependent = rope_type in LENGTH_DEPENDENT_SCHEDULES
        # rotary_dim -> (inverse_frequencies, attention_scaling), numpy float32.
        self._static_tables = {}

    def static_frequencies(self, rotary_dim):
        """`(inverse_frequencies, attention_scaling)` for `rotary_dim`, computed once per size."""
        if rotary_dim not in self._static_tables:
            self._static_tables[rotary_dim] = rope_frequencies(
                self.rope_type,
                rotary_dim,
                self.max_wavelength,
                self.parameters,
                partial_rotary_factor=self.partial_rotary_factor,
            )
        return self._static_tables[rotary_dim]

    def frequencies(self, rotary_dim, positions=None, start_index=0, sequence_length=None):
        """`(inverse_frequencies, attention_scaling)` for a call at `positions` (or from `start_index`).

        Static schedules return their cached numpy tables; length-dependent ones
        recompute from the call's positions (a tensor when they are traced).
        """
        if not self.length_dependent:
            return self.static_frequencies(rotary_dim)
        return rope_frequencies(
            self.rope_type,
            rotary_dim,
            self.max_wavelength,
            self.parameters,
            sequence_length=largest_position_plus_one(positions, start_index, sequence_length),
            partial_rotary_factor=self.partial_rotary_factor,
        )

    def config(self):
        """The schedule's parameters for `get_config`; `factor` is saved as `scaling_factor`."""
        return {name: value for name, value in self.parameters.items() if name != "factor"}
