"""`MultimodalRotaryEmbedding`: rotary positions in time, height and width (M-RoPE)."""

import keras
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import describe
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.ops.positions import check_positions_fit
from keras_embed.ops.positions import sequence_positions
from keras_embed.ops.rope.hf_config import arguments_from_hf_config
from keras_embed.ops.rope.hf_config import hf_config_dict
from keras_embed.ops.rope.multimodal import check_mrope_section
from keras_embed.ops.rope.multimodal import mrope_pair_axes
from keras_embed.ops.rope.multimodal import pair_positions
from keras_embed.ops.rope.rotation import pair_cos_sin
from keras_embed.ops.rope.rotation import rotate_along
from keras_embed.ops.rope.scheme import RopeScheme
from keras_embed.ops.rope.scheme import pop_scheme_arguments

# transformers names for the plain RoPE frequencies of multimodal models.
_HF_TYPE_ALIASES = {"mrope": "default", "axial": "default"}
# Layout and sections of models whose configs may leave them out.
_HF_DEFAULT_SECTIONS = {"qwen3": ([24, 20, 20], True), "qwen2": ([16, 24, 24], False)}


@keras.saving.register_keras_serializable(package="keras_embed")
class MultimodalRotaryEmbedding(CheckedCallArgumentsMixin, keras.layers.Layer):
    """Multimodal rotary position embedding (M-RoPE) of Qwen2-VL and Qwen3-VL.

    Every token carries three positions, `(t, h, w)`: text tokens repeat their
    place in the sequence on all three axes, image and video patches count
    frame, row and column (`keras_embed.ops.multimodal_positions` builds them).
    The `head_dim // 2` feature pairs are split between the axes by
    `mrope_section`, and pair `i` turns by the position on its axis times
    `inverse_frequencies[i] = max_wavelength ** (-2i / head_dim)` (before the
    `rope_type` scaling), in rotate-half layout (pair `i` is features `i` and
    `i + head_dim // 2`). For a text-only sequence every axis holds the same
    position and the result is plain RoPE. Angles, cosine and sine are float32
    whatever the dtype policy; the output has the layer's compute dtype.

    `interleaved` picks how `mrope_section` maps pairs to axes:

    - `False` (Qwen2-VL, Qwen2.5-VL): chunks, the first `mrope_section[0]`
      pairs follow time, the next `mrope_section[1]` height, the last width;
    - `True` (Qwen3-VL): pairs `1, 4, 7, ...` below `3 * mrope_section[1]`
      follow height, pairs `2, 5, 8, ...` below `3 * mrope_section[2]` width,
      every other pair time, so each axis spans low and high frequencies.

    Args:
        mrope_section: three non-negative ints summing to `head_dim // 2`, the
            pairs given to time, height and width (`[16, 24, 24]` for Qwen2-VL
            at head_dim 128, `[24, 20, 20]` for Qwen3-VL).
        interleaved: bool, the Qwen3-VL layout. Defaults to `False`.
        max_wavelength: number above 1, the base (`rope_theta`). Defaults to
            `10000`.
        scaling_factor: positive number, the scheme's `factor` (see
            `RotaryEmbedding`). Defaults to `1.0`.
        rope_type: str, a frequency schedule of `keras_embed.ops.rope.schedules`, as for
            `RotaryEmbedding` (e.g. `"yarn"` with its parameters as further
            keyword arguments). Defaults to `"default"`.
        **kwargs: the schedule's parameters, and other keyword arguments of
            `keras.layers.Layer`, e.g. `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, seq, ..., head_dim)`, e.g. queries or keys
            `(batch, seq, heads, head_dim)`; axes between seq and head_dim
            broadcast.
        positions: optional int or float tensor `(3, batch, seq)` (time, height,
            width), as transformers passes them; batch may be 1 to broadcast.
            When omitted, every axis holds `start_index + arange(seq)` (text).
        start_index: int or int scalar tensor, first position when `positions`
            is omitted. Defaults to `0`.

    Input shape:
        `(batch, seq, ..., head_dim)`, rank 3 or more.

    Output shape:
        Same as the input shape.

    Returns:
        `inputs` rotated, with the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> from keras_embed.ops import multimodal_positions
    >>> types = np.array([[0, 0, 1, 1, 1, 1, 1, 1, 0]])  # text, a 2x3-token image, text
    >>> positions, _ = multimodal_positions(types, image_grids=[[1, 4, 6]])
    >>> rotary = MultimodalRotaryEmbedding(mrope_section=[2, 3, 3], max_wavelength=1e6)
    >>> queries = np.ones((1, 9, 4, 16), dtype="float32")  # (batch, seq, heads, head_dim)
    >>> tuple(rotary(queries, positions=positions).shape)
    (1, 9, 4, 16)

    References:
        - [Wang et al., Qwen2-VL, 2024](https://arxiv.org/abs/2409.12191)
        - [Bai et al., Qwen3-VL Technical Report, 2025](https://arxiv.org/abs/2511.21631)
    """

    checked_call_arguments = {"inputs": "numbers", "positions": "positions"}

    def __init__(
        self,
        mrope_section,
        interleaved=False,
        max_wavelength=10000,
        scaling_factor=1.0,
        *,
        rope_type="default",
        **kwargs,
    ):
        scheme_arguments = pop_scheme_arguments(kwargs)
        super().__init__(**kwargs)
        self.mrope_section = list(check_mrope_section(mrope_section))
        check_bool("interleaved", interleaved, expected="a bool")
        self._scheme = RopeScheme(rope_type, max_wavelength, scaling_factor, scheme_arguments)
        if self._scheme.covers_full_width:
            raise ValueError(
                f"rope_type='{rope_type}' rotates part of the head, which M-RoPE does not. "
                f"Received: rope_type={describe(rope_type)}."
            )
        self.interleaved = interleaved
        self.max_wavelength = max_wavelength
        self.scaling_factor = scaling_factor
        self.rope_type = rope_type
        # head_dim -> which axis drives each feature pair, numpy int32.
        self._pair_axes = {}
        self.supports_masking = True

    def _static_pair_axes(self, head_dim):
        """The pair-to-axis map for `head_dim`, with its frequencies computed once per size."""
        if head_dim is None:
            raise ValueError(
                "`MultimodalRotaryEmbedding` needs a known size for the last axis "
                "(head_dim). Received None."
            )
        if head_dim not in self._pair_axes:
            self._pair_axes[head_dim] = mrope_pair_axes(
                self.mrope_section, self.interleaved, head_dim
            )
            self._scheme.static_frequencies(head_dim)
        return self._pair_axes[head_dim]

    def _check_rank(self, rank):
        if rank < 3:
            raise ValueError(
                "`MultimodalRotaryEmbedding` needs inputs (batch, seq, ..., head_dim) of "
                f"rank 3 or more. Received inputs of rank {rank}."
            )

    def build(self, input_shape):
        self._check_rank(len(input_shape))
        if input_shape[-1] is not None:
            self._static_pair_axes(input_shape[-1])

    def _check_positions(self, positions, inputs):
        """`positions` as float32, after checking its shape against `inputs`."""
        positions = sequence_positions(None, positions=positions)
        shape = tuple(positions.shape)
        if len(shape) != 3 or shape[0] != 3:
            raise ValueError(
                "`positions` must have shape (3, batch, seq): time, height and width "
                f"positions per token. Received: positions.shape={shape}."
            )
        check_positions_fit(shape, inputs.shape, sequence_axis=1, batch_axis=1, along="axis 1")
        return positions

    def call(self, inputs, positions=None, start_index=0):
        rank = len(inputs.shape)
        self._check_rank(rank)
        head_dim = inputs.shape[-1]
        pair_axes = self._static_pair_axes(head_dim)
        if positions is None:
            sequence_length = inputs.shape[1]
            if sequence_length is None:
                sequence_length = ops.shape(inputs)[1]
            text = sequence_positions(sequence_length, start_index)
            # (3, 1, seq)
            positions = ops.broadcast_to(text[None, None], (3, 1, sequence_length))
        else:
            positions = self._check_positions(positions, inputs)
        inverse_frequencies, scaling = self._scheme.frequencies(head_dim, positions)
        # (batch, seq, head_dim // 2): each pair's position on its own axis.
        cos, sin = pair_cos_sin(pair_positions(positions, pair_axes), inverse_frequencies, scaling)
        return rotate_along(inputs, cos, sin, (0, 1, rank - 1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        self._check_rank(len(input_shape))
        if input_shape[-1] is not None:
            self._static_pair_axes(input_shape[-1])
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mrope_section": list(self.mrope_section),
                "interleaved": self.interleaved,
                "max_wavelength": self.max_wavelength,
                "scaling_factor": self.scaling_factor,
                "rope_type": self.rope_type,
            }
        )
        config.update(self._scheme.config())
        return config

    @classmethod
    def from_hf_config(cls, config, **kwargs):
        """Build the layer from a Qwen2-VL, Qwen2.5-VL or Qwen3-VL config.

        Reads the text part (`config["text_config"]` when present, else the
        config itself), in the v5 form (`rope_parameters`) or the v4 form
        (`rope_theta` plus `rope_scaling`, whose `"type": "mrope"` means plain
        frequencies, as does v5's `"axial"`). `mrope_section` and
        `mrope_interleaved` come from the rope parameters; where absent, the
        model type decides (Qwen3-VL: `[24, 20, 20]`, interleaved; Qwen2-VL and
        Qwen2.5-VL: `[16, 24, 24]`, chunked), as in transformers' model code.

        Args:
            config: dict (a parsed `config.json`) or a transformers config.
            **kwargs: further constructor arguments, e.g. `name`.

        Returns:
            A `MultimodalRotaryEmbedding`.

        Raises:
            ValueError: no `mrope_section` and an unknown model type, or what
                `RotaryEmbedding.from_hf_config` rejects.
        """
        config = hf_config_dict(config)
        model_type = str(config.get("model_type", ""))
        text_config = dict(config.get("text_config") or config)
        text_config.setdefault("model_type", model_type)
        arguments, parameters = arguments_from_hf_config(
            text_config, type_aliases=_HF_TYPE_ALIASES
        )
        if arguments.pop("partial_rotary_factor") != 1.0:
            raise ValueError(
                "M-RoPE rotates the whole head, but this config sets a `partial_rotary_factor`."
            )
        default = next(
            (value for prefix, value in _HF_DEFAULT_SECTIONS.items()
             if text_config["model_type"].startswith(prefix)),
            None,
        )
        section = parameters.get("mrope_section", default[0] if default else None)
        if section is None:
            raise ValueError(
                "The config has no `mrope_section` in its rope parameters, and its model "
                f"type {model_type!r} has no known default."
            )
        interleaved = parameters.get("mrope_interleaved", default[1] if default else False)
        arguments.update(mrope_section=list(section), interleaved=bool(interleaved))
        arguments.update(kwargs)
        return cls(**arguments)
