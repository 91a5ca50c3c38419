"""`AxialRotaryEmbedding`: rotary positions on a grid of patches (RoPE-Axial, RoPE-Mixed)."""

import keras
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_integer
from keras_embed._validation import check_positive_int
from keras_embed.layers._call_arguments import CheckedCallArgumentsMixin
from keras_embed.ops.rope.axial import apply_blockwise
from keras_embed.ops.rope.axial import axial_cos_sin
from keras_embed.ops.rope.axial import axial_inverse_frequencies
from keras_embed.ops.rope.axial import check_grid_inputs
from keras_embed.ops.rope.axial import known_heads
from keras_embed.ops.rope.axial import mixed_cos_sin
from keras_embed.ops.rope.axial import mixed_frequencies_initial
from keras_embed.ops.rope.axial import random_head_angles
from keras_embed.ops.rope.axial import token_coordinates
from keras_embed.ops.rope.registry import check_max_wavelength
from keras_embed.ops.rope.rotation import rotate_in_float32


@keras.saving.register_keras_serializable(package="keras_embed")
class AxialRotaryEmbedding(CheckedCallArgumentsMixin, keras.layers.Layer):
    """Rotary position embedding for tokens on a grid, axial or with learned mixed frequencies.

    A vision transformer's patch at row `y`, column `x` gets a position per
    axis. The head is cut into `dims` equal blocks, one per axis, each a
    rotate-half rotary embedding (pair `t` of block `k` is features
    `k * block + t` and `k * block + t + block // 2`, `block = head_dim // dims`):

    - `learnable=False` (RoPE-Axial): block `k` turns by coordinate `k` times
      `max_wavelength ** (-2t / block)`. With `dims=2, max_wavelength=100`
      this is Gemma 4's vision rotary.
    - `learnable=True` (RoPE-Mixed): pair `t` of block `k` of head `h` turns by
      `sum_a coordinate_a * frequencies[a, h, k, t]`, a learned weight per
      head, so pairs may follow diagonals. It starts from the axial
      magnitudes, each head's blocks turned by a random angle in the plane of
      the first two axes (the paper's initialisation).

    Either way a query at `p` and a key at `q` score by `q - p` only, per axis.
    Tokens whose coordinates are NaN (a CLS or register token) pass unrotated.
    Angles, cosine and sine are float32 whatever the dtype policy; the output
    has the layer's compute dtype.

    Args:
        dims: int, number of grid axes (2 for images, 3 for video). Defaults
            to `2`.
        max_wavelength: number above 1, the base of the frequencies. Defaults
            to `100` (Heo et al.).
        learnable: bool, learn mixed frequencies per head (RoPE-Mixed).
            Defaults to `False`.
        seed: optional int, seeds the initial angles of the mixed frequencies.
        **kwargs: other keyword arguments of `keras.layers.Layer`, e.g. `name`
            and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, seq, heads, head_dim)` or
            `(batch, seq, head_dim)`; `head_dim` a multiple of `2 * dims`.
        grid: optional tuple of `dims` ints, e.g. `(height, width)`: the tokens
            are the grid's cells in row-major order, so `seq` must equal its
            product.
        coordinates: optional float tensor `(batch, seq, dims)` or
            `(seq, dims)`: each token's position per axis, NaN where it has
            none; not with `grid`. With neither, `seq` must be a perfect
            `dims`-th power and the grid is that hypercube.

    Input shape:
        `(batch, seq, heads, head_dim)` or `(batch, seq, head_dim)`.

    Output shape:
        Same as the input shape.

    Returns:
        `inputs` rotated, with the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> patches = np.ones((2, 12, 4, 16), dtype="float32")  # a 3x4 grid, 4 heads
    >>> rotary = AxialRotaryEmbedding(dims=2)
    >>> tuple(rotary(patches, grid=(3, 4)).shape)
    (2, 12, 4, 16)
    >>> with_cls = np.ones((2, 13, 4, 16), dtype="float32")
    >>> rows, columns = np.divmod(np.arange(12), 4)
    >>> coordinates = np.concatenate([[[np.nan, np.nan]], np.stack([rows, columns], -1)])
    >>> mixed = AxialRotaryEmbedding(dims=2, learnable=True, seed=0)
    >>> outputs = keras.ops.convert_to_numpy(mixed(with_cls, coordinates=coordinates))
    >>> bool(np.allclose(outputs[:, 0], with_cls[:, 0]))  # the CLS token is not rotated
    True

    References:
        - [Heo et al., Rotary Position Embedding for Vision Transformer, 2024](
          https://arxiv.org/abs/2403.13298)
    """

    checked_call_arguments = {"inputs": "numbers", "coordinates": "coordinates"}

    def __init__(self, dims=2, max_wavelength=100, learnable=False, seed=None, **kwargs):
        # Mixed frequencies are float32 weights; keep them so under mixed precision.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        check_positive_int("dims", dims)
        check_max_wavelength(max_wavelength)
        check_bool("learnable", learnable, expected="a bool")
        check_integer("seed", seed, allow_none=True)
        self.dims = int(dims)
        self.max_wavelength = max_wavelength
        self.learnable = learnable
        self.seed = seed
        self.frequencies = None
        self.supports_masking = True

    def _check_shape(self, input_shape):
        return check_grid_inputs("AxialRotaryEmbedding", input_shape, self.dims)

    def build(self, input_shape):
        block = self._check_shape(input_shape)
        self._inverse_frequencies = axial_inverse_frequencies(block, self.max_wavelength)
        if self.learnable:
            heads = known_heads(input_shape, "Learned mixed frequencies")
            initial = mixed_frequencies_initial(
                self.dims, heads, block, self.max_wavelength,
                random_head_angles(heads, self.seed),
            )
            # (dims, heads, dims, block // 2): axis a's frequency for pair t of block k of head h.
            self.frequencies = self.add_weight(
                name="frequencies",
                shape=initial.shape,
                initializer=lambda shape, dtype=None: ops.cast(initial, dtype or "float32"),
                dtype="float32",
            )

    def call(self, inputs, grid=None, coordinates=None):
        self._check_shape(inputs.shape)
        # (batch or 1, seq, dims)
        coordinates = token_coordinates(inputs.shape[1], self.dims, grid, coordinates)
        has_heads = len(inputs.shape) == 4
        if self.learnable:
            # (batch, seq, heads, dims, half)
            cos, sin = mixed_cos_sin(coordinates, self.frequencies)
            if not has_heads:
                cos, sin = cos[:, :, 0], sin[:, :, 0]
        else:
            # (batch, seq, dims, half)
            cos, sin = axial_cos_sin(coordinates, self._inverse_frequencies)
            if has_heads:
                cos, sin = ops.expand_dims(cos, 2), ops.expand_dims(sin, 2)
        return rotate_in_float32(
            inputs,
            (cos, sin),
            self.compute_dtype,
            lambda x, cos, sin: apply_blockwise(x, cos, sin, self.dims),
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
                "learnable": self.learnable,
                "seed": self.seed,
            }
        )
        return config
