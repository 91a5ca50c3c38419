"""Axial and mixed rotary positions for tokens on a grid (image patches, video cubes).

The head is cut into `dims` equal blocks, one per axis, and every block is a
rotate-half rotary embedding of its own: with `block = head_dim // dims`, pair
`t < block // 2` of block `k` is features `k * block + t` and
`k * block + t + block // 2`.

- Axial (RoPE-Axial): block `k` turns by coordinate `k` times
  `max_wavelength ** (-2t / block)`, the RoFormer frequencies of a
  `block`-wide head (Gemma 4's vision encoder, base 100).
- Mixed (RoPE-Mixed): every pair turns by `sum_a coordinate_a * theta[a, head, k, t]`,
  with learned frequencies `theta` per head, so a pair may follow a diagonal.

Both keep RoPE's relative property per axis: the score of a query at `p` and
a key at `q` depends on `q - p` only.

Reference: Heo et al., "Rotary Position Embedding for Vision Transformer",
ECCV 2024, https://arxiv.org/abs/2403.13298 (section 3.2, eqs. 10-13).
"""

import math

import numpy as np
from keras import ops

from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.ops._ids import check_numbers
from keras_embed.ops.rope.rotation import apply_rope
from keras_embed.ops.rope.rotation import pair_cos_sin
from keras_embed.ops.rope.schedules import default_schedule


def check_head_dim(head_dim, dims):
    """Each of the `dims` blocks needs a whole number of feature pairs."""
    if head_dim is None or head_dim % (2 * dims):
        raise ValueError(
            f"The last axis (head_dim) must be a multiple of 2 * dims = {2 * dims}, so that "
            f"each of the {dims} axes rotates whole feature pairs. Received: head_dim={head_dim}."
        )
    return head_dim // dims


def check_grid_inputs(layer_name, input_shape, dims):
    """`head_dim // dims` for inputs `(batch, seq, heads, head_dim)` or `(batch, seq, head_dim)`."""
    if len(input_shape) not in (3, 4):
        raise ValueError(
            f"`{layer_name}` needs inputs (batch, seq, heads, head_dim) or "
            f"(batch, seq, head_dim). Received inputs of rank {len(input_shape)}."
        )
    return check_head_dim(input_shape[-1], dims)


def known_heads(input_shape, learned):
    """The heads of grid-token inputs (axis 2, else 1), which the `learned` weights need known."""
    heads = input_shape[2] if len(input_shape) == 4 else 1
    if heads is None:
        raise ValueError(f"{learned} need a known number of heads (axis 2).")
    return heads


def axial_inverse_frequencies(block, max_wavelength):
    """`max_wavelength ** (-2t / block)` for `t < block // 2`, float32 numpy."""
    return default_schedule(block, max_wavelength)[0]


def mixed_frequencies_initial(dims, heads, block, max_wavelength, head_angles):
    """RoPE-Mixed initial frequencies `(dims, heads, dims, block // 2)`, float32 numpy.

    Block `k` of head `h` starts along direction `k` turned by `head_angles[h]`
    in the plane of the first two axes (Heo et al.: a random angle per head;
    block 1 is block 0's direction plus 90 degrees), with the axial magnitudes.
    With all angles zero this is exactly the axial embedding.
    """
    magnitudes = axial_inverse_frequencies(block, max_wavelength).astype(np.float64)
    # directions[h, k, a]: unit vector of block k of head h.
    directions = np.broadcast_to(np.eye(dims), (heads, dims, dims)).copy()
    if dims >= 2:
        cos, sin = np.cos(head_angles), np.sin(head_angles)
        for k in range(dims):
            first, second = directions[:, k, 0].copy(), directions[:, k, 1].copy()
            directions[:, k, 0] = cos * first - sin * second
            directions[:, k, 1] = sin * first + cos * second
    frequencies = np.einsum("hka,t->ahkt", directions, magnitudes)
    return frequencies.astype(np.float32)


def token_coordinates(sequence, dims, grid=None, coordinates=None):
    """Each token's grid position: `(batch or 1, seq, dims)` float32, NaN (missing) as 0.

    Args:
        sequence: static number of tokens.
        dims: number of grid axes.
        grid: optional `dims` ints; tokens are its cells in row-major order.
        coordinates: optional `(batch, seq, dims)` or `(seq, dims)` positions,
            NaN where a token has none. Give `grid` or `coordinates`, not both.

    With neither, `sequence` must be a perfect `dims`-th power: the hypercube.
    """
    if coordinates is not None and grid is not None:
        raise ValueError(
            "Pass `grid` or `coordinates`, not both: `coordinates` place every token "
            f"themselves. Received: grid={grid!r} and coordinates of shape "
            f"{tuple(getattr(coordinates, 'shape', np.shape(coordinates)))}."
        )
    if coordinates is not None:
        check_numbers("coordinates", coordinates, "coordinates")
        coordinates = ops.convert_to_tensor(coordinates)
        shape = tuple(coordinates.shape)
        if len(shape) not in (2, 3) or shape[-1] != dims:
            raise ValueError(
                f"`coordinates` must have shape (batch, seq, {dims}) or (seq, {dims}). "
                f"Received: coordinates.shape={shape}."
            )
        if shape[-2] is not None and sequence is not None and shape[-2] != sequence:
            raise ValueError(
                f"`coordinates` must give one position per token: {shape[-2]} rows but "
                f"inputs have {sequence} tokens along axis 1."
            )
        if len(shape) == 2:
            coordinates = coordinates[None]
        return known_coordinates(coordinates)
    if sequence is None:
        raise ValueError("A known sequence length is needed to lay the tokens out on a grid.")
    if grid is None:
        side = round(sequence ** (1 / dims))
        if side**dims != sequence:
            raise ValueError(
                f"Pass `grid` or `coordinates`: {sequence} tokens are not a {dims}-D "
                "hypercube, so the grid cannot be inferred."
            )
        grid = (side,) * dims
    if (
        not isinstance(grid, (tuple, list))
        or len(grid) != dims
        or not all(is_integer(v) and v > 0 for v in grid)
    ):
        raise ValueError(
            f"`grid` must be {dims} positive integers, one size per axis. "
            f"Received: grid={describe(grid)}."
        )
    cells = math.prod(int(v) for v in grid)
    if cells != sequence:
        raise ValueError(
            f"`grid` {tuple(int(v) for v in grid)} has {cells} cells but inputs have "
            f"{sequence} tokens along axis 1. For tokens without a grid position (e.g. a "
            "CLS token), pass `coordinates` with NaN for them."
        )
    return ops.convert_to_tensor(grid_coordinates(grid))[None]


def grid_coordinates(grid):
    """Row-major coordinates of every cell of `grid`: `(prod(grid), len(grid))` float32."""
    axes = np.meshgrid(*(np.arange(size) for size in grid), indexing="ij")
    return np.stack([axis.reshape(-1) for axis in axes], axis=-1).astype(np.float32)


def known_coordinates(coordinates):
    """Coordinates with NaN (missing, e.g. a CLS token) replaced by 0: no rotation.

    Zeroing before the product keeps gradients finite (a `where` after it would
    multiply the NaN by a zero cotangent).
    """
    coordinates = ops.cast(coordinates, "float32")
    return ops.where(ops.isnan(coordinates), ops.zeros_like(coordinates), coordinates)


def axial_cos_sin(coordinates, inverse_frequencies):
    """`(..., dims)` coordinates -> cos, sin `(..., dims, block // 2)` float32."""
    return pair_cos_sin(ops.expand_dims(coordinates, -1), inverse_frequencies)


def mixed_cos_sin(coordinates, frequencies):
    """`(batch, seq, dims)` and `(dims, heads, dims, half)` -> `(batch, seq, heads, dims, half)`."""
    # A sum of products, not an einsum: matmul units may round float32 (TF32).
    angles = 0.0
    for axis in range(frequencies.shape[0]):
        coordinate = coordinates[..., axis][..., None, None, None]
        angles = angles + coordinate * ops.cast(frequencies[axis], "float32")
    return ops.cos(angles), ops.sin(angles)


def apply_blockwise(inputs, cos, sin, dims):
    """Rotate each of the `dims` blocks of the last axis of `inputs` by its tables.

    Args:
        inputs: `(..., head_dim)`.
        cos, sin: broadcastable to `(..., dims, head_dim // (2 * dims))`.
        dims: number of blocks.

    Returns:
        `(..., head_dim)`, the dtype of `inputs`.
    """
    head_dim = inputs.shape[-1]
    leading = tuple(ops.shape(inputs)[:-1])
    blocks = ops.reshape(inputs, leading + (dims, head_dim // dims))
    rotated = apply_rope(blocks, cos, sin, interleaved=False)
    return ops.reshape(rotated, ops.shape(inputs))


def random_head_angles(heads, seed=None):
    """A uniform angle in [0, 2 pi) per head, numpy float64.

    Without a seed, numpy's global generator draws them, which
    `keras.utils.set_random_seed` seeds.
    """
    generator = np.random if seed is None else np.random.default_rng(seed)
    return generator.uniform(0.0, 2 * math.pi, heads)
