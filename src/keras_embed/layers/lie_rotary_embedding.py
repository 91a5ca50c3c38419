"""`LieRotaryEmbedding`: rotary positions as learned Lie-group rotations (LieRE)."""

import keras
from keras import ops

from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.ops.rope.axial import check_grid_inputs
from keras_embed.ops.rope.axial import known_heads
from keras_embed.ops.rope.axial import token_coordinates
from keras_embed.ops.rope.lie import apply_rotations
from keras_embed.ops.rope.lie import axial_generators
from keras_embed.ops.rope.lie import lie_rotations
from keras_embed.ops.rope.lie import skew_symmetric
from keras_embed.ops.rope.registry import check_max_wavelength
from keras_embed.ops.rope.rotation import rotate_in_float32


@keras.saving.register_keras_serializable(package="keras_embed")
class LieRotaryEmbedding(CheckedCallArgumentsMixin, keras.layers.Layer):
    """Rotary position embedding with learned skew-symmetric generators (LieRE).

    A token at grid position `p` (one coordinate per axis) is rotated by
    `R(p) = exp(sum_a p_a * A_a)`, where each `A_a` is a learned skew-symmetric
    generator per head, block-diagonal with blocks of `block_size` features
    (the whole head by default). RoPE is the special case of fixed 2x2 blocks;
    LieRE learns dense rotations. The generators start as those of axial RoPE
    on adjacent pairs (pair `t` of the `a`-th chunk of the head turns with axis
    `a` at `max_wavelength ** (-2t / (head_dim / dims))`), so the layer starts
    as RoPE-Axial and learns away from it.

    Scores depend only on the offset `q - p` when there is one axis, or when
    the generators commute (e.g. `block_size=2`); with dense generators and
    several axes, learning may trade some of that for expressiveness.

    The exponential is computed by scaling and squaring in float32, per token
    and head: `O(head_dim * block_size ** 2)` work per token and head, so a
    smaller `block_size` is much cheaper.

    Args:
        dims: int, number of grid axes. Defaults to `2`.
        max_wavelength: number above 1, the base of the initial frequencies.
            Defaults to `100`.
        block_size: optional even int dividing `head_dim`; the generators are
            block-diagonal with blocks this wide. Defaults to `None` (one block,
            the whole head).
        **kwargs: other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, seq, heads, head_dim)` or
            `(batch, seq, head_dim)`.
        grid: optional tuple of `dims` ints; the tokens are its cells in
            row-major order.
        coordinates: optional float tensor `(batch, seq, dims)` or `(seq, dims)`,
            NaN where a token has no position (it passes unrotated). With
            neither, `seq` must be a perfect `dims`-th power.

    Input shape:
        `(batch, seq, heads, head_dim)` or `(batch, seq, head_dim)`.

    Output shape:
        Same as the input shape.

    Returns:
        `inputs` rotated, with the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> patches = np.ones((2, 12, 4, 16), dtype="float32")  # a 3x4 grid, 4 heads
    >>> rotary = LieRotaryEmbedding(dims=2, block_size=8)
    >>> tuple(rotary(patches, grid=(3, 4)).shape)
    (2, 12, 4, 16)
    >>> [tuple(weight.shape) for weight in rotary.weights]  # (dims, heads, blocks, 8, 8)
    [(2, 4, 2, 8, 8)]

    References:
        - [Ostmeier et al., LieRE, 2024](https://arxiv.org/abs/2406.10322)
    """

    checked_call_arguments = {"inputs": "numbers", "coordinates": "coordinates"}

    def __init__(self, dims=2, max_wavelength=100, block_size=None, **kwargs):
        # Generators and the exponential stay float32 under mixed precision.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        check_positive_int("dims", dims)
        check_max_wavelength(max_wavelength)
        if block_size is not None and (
            not is_integer(block_size)
            or block_size < 2
            or block_size % 2
        ):
            raise ValueError(
                "`block_size` must be an even integer of at least 2, or None. "
                f"Received: block_size={describe(block_size)}."
            )
        self.dims = int(dims)
        self.max_wavelength = max_wavelength
        self.block_size = block_size
        self.supports_masking = True

    def _check_shape(self, input_shape):
        check_grid_inputs("LieRotaryEmbedding", input_shape, self.dims)
        head_dim = input_shape[-1]
        block_size = head_dim if self.block_size is None else self.block_size
        if head_dim % block_size:
            raise ValueError(
                f"`block_size` must divide head_dim. Received: block_size={block_size}, "
                f"head_dim={head_dim}."
            )
        return block_size

    def build(self, input_shape):
        block_size = self._check_shape(input_shape)
        heads = known_heads(input_shape, "Learned generators")
        # W with W - W^T = the axial generators: half of them, as W^T contributes the rest.
        initial = 0.5 * axial_generators(
            self.dims, heads, input_shape[-1], block_size, self.max_wavelength
        )
        # (dims, heads, blocks, block_size, block_size); the generators are W - W^T.
        self.generator_weights = self.add_weight(
            name="generator_weights",
            shape=initial.shape,
            initializer=lambda shape, dtype=None: ops.cast(initial, dtype or "float32"),
            dtype="float32",
        )

    def generators(self):
        """The skew-symmetric generators `(dims, heads, blocks, k, k)`, float32."""
        return skew_symmetric(ops.cast(self.generator_weights, "float32"))

    def call(self, inputs, grid=None, coordinates=None):
        self._check_shape(inputs.shape)
        # (batch or 1, seq, dims)
        coordinates = token_coordinates(inputs.shape[1], self.dims, grid, coordinates)
        # (batch or 1, seq, heads, blocks, k, k)
        rotations = lie_rotations(coordinates, self.generators())
        has_heads = len(inputs.shape) == 4
        if not has_heads:
            rotations = rotations[:, :, 0]
        return rotate_in_float32(
            inputs, (rotations,), self.compute_dtype, apply_rotations
        )

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dims": self.dims,
                "max_wavelength": self.max_wavelength,
                "block_size": self.block_size,
            }
        )
        return config
