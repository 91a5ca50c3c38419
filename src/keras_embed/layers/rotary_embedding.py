"""`RotaryEmbedding`: rotary position embedding with every published scaling scheme.

About 400 lines because over 200 of them are documentation: the class
docstring is the user guide to every scaling scheme (163 lines, with runnable
examples) and `from_hf_config` documents the transformers keys it reads. The
math lives in `keras_embed.ops.rope`, and the frequency scheme and position
rule shared with `MultimodalRotaryEmbedding` in `keras_embed.ops.rope.scheme`;
the code here is the layer's life cycle and its axes.
"""

import keras
from keras import ops

from keras_embed._validation import canonical_axis
from keras_embed._validation import check_bool
from keras_embed._validation import check_integer
from keras_embed._validation import describe
from keras_embed._validation import is_number
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.ops.positions import check_positions_fit
from keras_embed.ops.positions import sequence_positions
from keras_embed.ops.rope.hf_config import arguments_from_hf_config
from keras_embed.ops.rope.registry import PARAMETER_DEFAULTS
from keras_embed.ops.rope.rotation import rope_cos_sin
from keras_embed.ops.rope.rotation import rotate_along
from keras_embed.ops.rope.scheme import RopeScheme
from keras_embed.ops.rope.scheme import pop_scheme_arguments


@keras.saving.register_keras_serializable(package="keras_embed")
class RotaryEmbedding(CheckedCallArgumentsMixin, keras.layers.Layer):
    """Rotary position embedding (RoPE), with the scaling schemes of real checkpoints.

    Rotates pairs of features by an angle proportional to the token position,
    so that the dot product of a rotated query and key depends only on their
    relative position. Feature pair `i` at position `p` turns by
    `p * inverse_frequencies[i]`, with `inverse_frequencies[i] =
    max_wavelength ** (-2i / rotary_dim)` before scaling; cosine and sine are
    computed in float32 whatever the dtype policy, and the output has the
    layer's compute dtype.

    With the default arguments this is a drop-in replacement for
    `keras_hub.layers.RotaryEmbedding` (same arguments, defaults and numbers).
    `scaling_factor` divides the positions (linear position interpolation, as
    in transformers and later keras-hub releases). KerasNLP 0.9 and earlier
    divided the exponent `2i / rotary_dim` by `scaling_factor` instead, which
    amounts to the base `max_wavelength ** (1 / scaling_factor)`: to reproduce
    such a layer, pass that base as `max_wavelength` with `scaling_factor=1`.

    `rope_type` picks the frequency schedule, one function each in
    `keras_embed.ops.rope.schedules`, and reproduces transformers 5.x numerically:

    - `"linear"` (default): positions divided by `scaling_factor`; with the
      default `scaling_factor=1.0` this is the original RoFormer RoPE.
    - `"default"`: the original RoPE; `scaling_factor` must stay 1.
    - `"ntk"`: static NTK-aware base `max_wavelength * scaling_factor **
      (d / (d - 2))`.
    - `"dynamic"`: dynamic NTK. For a call whose largest position is `P`,
      `L = max(P + 1, max_position_embeddings)` and the base becomes
      `max_wavelength * (scaling_factor * L / max_position_embeddings -
      (scaling_factor - 1)) ** (d / (d - 2))`, unchanged while `L <=
      max_position_embeddings`. The base depends only on the current call
      (transformers also keeps the longest length seen across calls until one
      falls back under `max_position_embeddings`; the two agree while a cached
      decode grows and after it shrinks below that length).
    - `"yarn"`: YaRN with `beta_fast`, `beta_slow`, `mscale`, `mscale_all_dim`,
      `attention_factor`, `truncate` and `original_max_position_embeddings`.
    - `"llama3"`: Llama 3.1 with `low_freq_factor`, `high_freq_factor` and
      `original_max_position_embeddings`.
    - `"longrope"`: LongRoPE / Phi-3 with `short_factor`, `long_factor`,
      `original_max_position_embeddings`; the long factors apply as soon as
      the largest position of the call reaches `original_max_position_embeddings`,
      so cached decoding past the original length uses them too.
      `scaling_factor` is the context extension ratio used for the default
      attention scaling.
    - `"proportional"` (transformers 5.24, Gemma 4 full attention): the whole
      feature axis pairs up as in full rotary, but only the first
      `int(partial_rotary_factor * features // 2)` pairs turn, with frequencies
      `max_wavelength ** (-2i / features)`; the other pairs have frequency zero
      and pass unchanged. Frequencies are divided by `scaling_factor`.

    The scheme parameters below are the keyword-only arguments of the schedule
    functions in `keras_embed.ops.rope.schedules` (`ROPE_TYPES`); a scheme rejects a
    parameter it does not take unless it holds its default.

    YaRN and LongRoPE multiply cosine and sine by their attention scaling, as
    transformers does.

    Exactness: frequency tables are float32 and correctly rounded, so they
    agree with transformers' to within one float32 unit in the last place
    (transformers takes torch's vectorised float32 `pow`, which is off by one
    unit for about 1% of entries, depending on the CPU); given the same table,
    outputs agree to 2e-6. At position `p` a one-unit table difference turns a
    pair by up to `p * 1.2e-7` radians more or less, e.g. 4e-3 at 32k.

    Where keras-hub 0.32 and transformers disagree (we follow transformers):

    - keras-hub computes `max_wavelength ** (-2i / d)` with the backend's
      `pow`; transformers `1 / max_wavelength ** (2i / d)`. The tables differ
      by about one unit in the last place, visible at long positions only.
    - keras-hub's `rope_type="dynamic"` divides every frequency by
      `scaling_factor ** (d / (d - 2))`, a static rescale (here:
      `rope_type="linear"` with that factor), not dynamic NTK.
    - keras-hub multiplies cosine and sine with the inputs in the compute
      dtype (bfloat16 under `mixed_bfloat16`) and defaults
      `original_max_position_embeddings` to 4096 for YaRN; here the rotation
      runs in float32 and YaRN requires the original length.
    - keras-hub 0.32's third positional argument is `rope_type`; here it is
      `sequence_axis`, as in earlier keras-hub releases, so the scheme
      arguments are keyword-only.

    Args:
        max_wavelength: number above 1, the base of the geometric frequencies
            (`rope_theta` in transformers). Defaults to `10000`.
        scaling_factor: positive number, the scheme's `factor`: position
            divisor for `"linear"`, context extension ratio for the others.
            Defaults to `1.0`.
        sequence_axis: int, axis of `inputs` that indexes positions. Defaults
            to `1`.
        feature_axis: int, axis of `inputs` holding the rotated features.
            Defaults to `-1`.
        rope_type: str, one of `"default"`, `"linear"`, `"ntk"`, `"dynamic"`,
            `"yarn"`, `"llama3"`, `"longrope"`, `"proportional"`. Defaults to
            `"linear"`.
        partial_rotary_factor: number in `(0, 1]`. Only the first
            `int(features * partial_rotary_factor)` features rotate; the rest
            pass through unchanged (GPT-NeoX, Phi, GLM). With
            `"proportional"`, the fraction of pairs that turn. Defaults to `1.0`.
        interleaved: bool. `False` rotates feature `i` with feature
            `i + rotary_dim // 2` (rotate-half, as Llama and GPT-NeoX); `True`
            rotates adjacent pairs `2i, 2i + 1` (GPT-J, RoFormer, GLM).
            Defaults to `False`.
        max_position_embeddings: int, context length the model was trained
            for; required by `"dynamic"`.
        original_max_position_embeddings: int, pre-extension context length;
            required by `"yarn"`, `"llama3"` and `"longrope"`.
        beta_fast, beta_slow: YaRN ramp bounds in rotations. Defaults `32.0`
            and `1.0`.
        mscale, mscale_all_dim: optional YaRN (DeepSeek) attention scaling
            terms.
        attention_factor: optional YaRN or LongRoPE attention scaling that
            overrides the default formula.
        truncate: bool, whether YaRN rounds its ramp bounds to whole pairs.
            Defaults to `True`.
        low_freq_factor, high_freq_factor: Llama 3 band edges.
        short_factor, long_factor: LongRoPE lists of `rotary_dim // 2` rescale
            factors each.
        **kwargs: other keyword arguments of `keras.layers.Layer`, e.g. `name`
            and `dtype`.

    Call arguments:
        inputs: float tensor with a sequence axis and a feature axis, e.g.
            `(batch, seq, features)` or `(batch, seq, heads, head_dim)`. Axes
            other than batch, sequence and features (heads) broadcast.
        start_index: int or int scalar tensor, position of the first token
            along the sequence axis, for cached decoding. Defaults to `0`.
        positions: optional int or float tensor of shape `(seq,)` or
            `(batch, seq)` (batch must be axis 0 of `inputs`) giving each
            token's position, e.g. for left-padded batches. Overrides
            `start_index`.

    Input shape:
        Any shape with at least two axes.

    Output shape:
        Same as the input shape.

    Returns:
        `inputs` rotated, with the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> queries = np.ones((2, 8, 4, 16), dtype="float32")  # (batch, seq, heads, head_dim)
    >>> rotary = RotaryEmbedding(max_wavelength=10000)
    >>> tuple(rotary(queries).shape)
    (2, 8, 4, 16)
    >>> llama31 = RotaryEmbedding.from_hf_config({
    ...     "rope_theta": 500000.0,
    ...     "max_position_embeddings": 131072,
    ...     "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
    ...                      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    ...                      "original_max_position_embeddings": 8192},
    ... })
    >>> tuple(llama31(queries, start_index=9000).shape)
    (2, 8, 4, 16)

    References:
        - [Su et al., RoFormer, 2021](https://arxiv.org/abs/2104.09864)
        - [Chen et al., Position Interpolation, 2023](https://arxiv.org/abs/2306.15595)
        - [Peng et al., YaRN, 2023](https://arxiv.org/abs/2309.00071)
        - [Ding et al., LongRoPE, 2024](https://arxiv.org/abs/2402.13753)
        - [Meta, The Llama 3 Herd of Models, 2024](https://arxiv.org/abs/2407.21783)
    """

    checked_call_arguments = {"inputs": "numbers", "positions": "positions"}

    def __init__(
        self,
        max_wavelength=10000,
        scaling_factor=1.0,
        sequence_axis=1,
        feature_axis=-1,
        *,
        rope_type="linear",
        partial_rotary_factor=1.0,
        interleaved=False,
        **kwargs,
    ):
        scheme_arguments = pop_scheme_arguments(kwargs)
        super().__init__(**kwargs)
        self._scheme = RopeScheme(
            rope_type, max_wavelength, scaling_factor, scheme_arguments, partial_rotary_factor
        )
        for name, axis in (("sequence_axis", sequence_axis), ("feature_axis", feature_axis)):
            check_integer(name, axis, expected="an integer axis")
        if sequence_axis == feature_axis:
            raise ValueError(
                "`sequence_axis` and `feature_axis` must be different axes. "
                f"Received: sequence_axis={sequence_axis}, feature_axis={feature_axis}."
            )
        _check_partial_rotary_factor(partial_rotary_factor)
        check_bool("interleaved", interleaved, expected="a bool")
        self.max_wavelength = max_wavelength
        self.scaling_factor = scaling_factor
        self.sequence_axis = int(sequence_axis)
        self.feature_axis = int(feature_axis)
        self.rope_type = rope_type
        self.partial_rotary_factor = partial_rotary_factor
        self.interleaved = interleaved
        # `layer.beta_fast` etc.: the scheme's value, `None` where it takes no such parameter.
        for name in PARAMETER_DEFAULTS:
            if name != "factor":
                setattr(self, name, self._scheme.parameters.get(name))
        self.supports_masking = True

    def _canonical_axes(self, rank):
        if rank < 2:
            raise ValueError(
                "`RotaryEmbedding` needs inputs with a sequence axis and a feature "
                f"axis, so rank >= 2. Received inputs of rank {rank}."
            )
        sequence_axis = canonical_axis("sequence_axis", self.sequence_axis, rank)
        feature_axis = canonical_axis("feature_axis", self.feature_axis, rank)
        if sequence_axis == feature_axis:
            raise ValueError(
                "`sequence_axis` and `feature_axis` must be different axes, but "
                f"sequence_axis={self.sequence_axis} and feature_axis="
                f"{self.feature_axis} are the same axis of inputs of rank {rank}."
            )
        return sequence_axis, feature_axis

    def _rotary_dim(self, features):
        if features is None:
            raise ValueError(
                "`RotaryEmbedding` needs a known size for the feature axis "
                f"(feature_axis={self.feature_axis}). Received None."
            )
        rotary_factor = 1.0 if self._scheme.covers_full_width else self.partial_rotary_factor
        rotary_dim = int(features * rotary_factor)
        if rotary_dim % 2 or rotary_dim == 0:
            raise ValueError(
                "The rotary dimension must be a positive even number, since "
                "features rotate in pairs. Received: "
                f"{features} features * partial_rotary_factor="
                f"{self.partial_rotary_factor} -> rotary_dim={rotary_dim}."
            )
        return rotary_dim

    def build(self, input_shape):
        sequence_axis, feature_axis = self._canonical_axes(len(input_shape))
        if input_shape[feature_axis] is not None:
            self._scheme.static_frequencies(self._rotary_dim(input_shape[feature_axis]))

    def call(self, inputs, start_index=0, positions=None):
        rank = len(inputs.shape)
        sequence_axis, feature_axis = self._canonical_axes(rank)
        rotary_dim = self._rotary_dim(inputs.shape[feature_axis])
        if feature_axis != rank - 1:
            inputs = ops.moveaxis(inputs, feature_axis, -1)
            if sequence_axis > feature_axis:
                sequence_axis -= 1
        sequence_length = inputs.shape[sequence_axis]
        if sequence_length is None:
            sequence_length = ops.shape(inputs)[sequence_axis]

        if positions is None:
            # (seq,)
            positions_used = sequence_positions(sequence_length, start_index)
        else:
            positions_used = self._check_positions(positions, inputs, sequence_axis)
        inverse_frequencies, attention_scaling = self._scheme.frequencies(
            rotary_dim, positions, start_index, sequence_length
        )
        # (seq, rotary_dim // 2) or (batch, seq, rotary_dim // 2), float32.
        cos, sin = rope_cos_sin(positions_used, inverse_frequencies, attention_scaling)
        table_axes = ([0] if len(positions_used.shape) == 2 else []) + [sequence_axis, rank - 1]
        outputs = rotate_along(
            inputs, cos, sin, table_axes, self.compute_dtype, interleaved=self.interleaved
        )
        if feature_axis != rank - 1:
            outputs = ops.moveaxis(outputs, -1, feature_axis)
        return outputs

    def _check_positions(self, positions, inputs, sequence_axis):
        """`positions` as float32, after checking its shape against `inputs`."""
        positions = sequence_positions(None, positions=positions)
        shape = tuple(positions.shape)
        if len(shape) not in (1, 2):
            raise ValueError(
                "`positions` must have shape (seq,) or (batch, seq). "
                f"Received: positions.shape={shape}."
            )
        if len(shape) == 2 and sequence_axis == 0:
            raise ValueError(
                "`positions` of shape (batch, seq) need inputs whose axis 0 is the "
                f"batch axis, but sequence_axis={self.sequence_axis} is axis 0. "
                "Pass positions of shape (seq,) instead."
            )
        check_positions_fit(
            shape,
            inputs.shape,
            sequence_axis,
            batch_axis=0 if len(shape) == 2 else None,
            along=f"sequence_axis={self.sequence_axis}",
        )
        return positions

    def compute_output_shape(self, input_shape):
        sequence_axis, feature_axis = self._canonical_axes(len(input_shape))
        if input_shape[feature_axis] is not None:
            self._rotary_dim(input_shape[feature_axis])
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "scaling_factor": self.scaling_factor,
                "sequence_axis": self.sequence_axis,
                "feature_axis": self.feature_axis,
                "rope_type": self.rope_type,
                "partial_rotary_factor": self.partial_rotary_factor,
                "interleaved": self.interleaved,
            }
        )
        # The scheme's own parameters; "factor" is already saved as `scaling_factor`.
        config.update(self._scheme.config())
        return config

    @classmethod
    def from_hf_config(cls, config, layer_type=None, **kwargs):
        """Build the layer from a transformers model config.

        Reads the v5 form (`config["rope_parameters"]` holding `rope_type`,
        `rope_theta`, `factor`, ...) and the v4 form (top-level `rope_theta`
        plus an optional `rope_scaling` dict, with `"type"` or `"rope_type"`),
        and fills the fallbacks transformers applies: `rope_theta` 10000,
        `original_max_position_embeddings` from a top-level key or
        `max_position_embeddings`, and for `"yarn"` / `"longrope"` a missing
        `factor` from `max_position_embeddings / original_max_position_embeddings`.
        `partial_rotary_factor` comes from the rope parameters or the top
        level (`rotary_pct` for GPT-NeoX).

        Args:
            config: dict (e.g. a parsed `config.json`) or an object with
                `to_dict()` such as a `transformers.PretrainedConfig`.
            layer_type: key of a per-layer-type `rope_parameters` dict (e.g.
                `"sliding_attention"` or `"full_attention"` for Gemma 3 and 4);
                required when it is nested.
            **kwargs: further constructor arguments, e.g. `interleaved=True`
                (transformers keeps the layout in the model code, not the
                config), `sequence_axis`, `name`.

        Returns:
            A `RotaryEmbedding`.

        Raises:
            ValueError: the config has an unknown rope type or lacks a key the
                type needs.
        """
        arguments, _ = arguments_from_hf_config(config, layer_type)
        arguments.update(kwargs)
        return cls(**arguments)


def _check_partial_rotary_factor(partial_rotary_factor):
    if not is_number(partial_rotary_factor) or not 0 < partial_rotary_factor <= 1:
        raise ValueError(
            "`partial_rotary_factor` must be a number in (0, 1]. "
            f"Received: partial_rotary_factor={describe(partial_rotary_factor)}."
        )
