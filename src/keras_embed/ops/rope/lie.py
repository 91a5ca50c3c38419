"""Lie-group rotary positions (LieRE): rotations `exp(sum_a p_a A_a)` with learned generators.

Each generator `A_a` is skew-symmetric, so `exp` of any combination of them is
a rotation. With one axis, `R(p)^T R(q) = exp((q - p) A)` and scores depend on
the offset only; with several axes this holds exactly when the generators
commute (e.g. 2x2 blocks, which is RoPE-Mixed) and approximately otherwise.

Reference: Ostmeier et al., "LieRE: Generalizing Rotary Position Encodings",
2024, https://arxiv.org/abs/2406.10322 (section 3).
"""

import numpy as np
from keras import ops

from keras_embed.ops.rope.axial import axial_inverse_frequencies

# Taylor order and the most halvings of the scaling-and-squaring exponential:
# exact to float32 rounding for generator norms up to 2 ** 16.
_TAYLOR_ORDER = 10
_MAX_SQUARINGS = 16


def skew_symmetric(weights):
    """`W - W^T` over the last two axes: a skew-symmetric generator from any weights."""
    return weights - ops.swapaxes(weights, -1, -2)


def expm(matrices):
    """Matrix exponential of `(..., k, k)` float32 matrices, scaling and squaring.

    Each matrix is halved `s` times, with `s` its own `ceil(log2(max row sum))`
    (at most `_MAX_SQUARINGS`), expanded by Taylor to order `_TAYLOR_ORDER`
    (Horner), then squared `s` times; matrices that need fewer squarings skip
    the extra ones, so one static loop serves every norm.
    """
    size = matrices.shape[-1]
    norms = ops.max(ops.sum(ops.abs(matrices), axis=-1), axis=-1)  # (...,)
    squarings = ops.clip(ops.ceil(ops.log2(ops.maximum(norms, 1e-30))), 0, _MAX_SQUARINGS)
    scaled = matrices / ops.expand_dims(ops.expand_dims(ops.power(2.0, squarings), -1), -1)
    identity = ops.eye(size, dtype=matrices.dtype)
    result = identity
    for order in range(_TAYLOR_ORDER, 0, -1):
        result = identity + ops.matmul(scaled, result) / float(order)
    for step in range(_MAX_SQUARINGS):
        needed = ops.expand_dims(ops.expand_dims(squarings > step, -1), -1)
        result = ops.where(needed, ops.matmul(result, result), result)
    return result


def axial_generators(dims, heads, head_dim, block_size, max_wavelength):
    """Generators `(dims, heads, blocks, k, k)` that make LieRE equal to axial RoPE.

    Adjacent pairs `(2j, 2j + 1)` are cut into `dims` equal chunks; chunk `a`'s
    pair `t` turns with axis `a` at `max_wavelength ** (-2t / (head_dim / dims))`,
    each as the 2x2 generator `[[0, -theta], [theta, 0]]`.
    """
    chunk = head_dim // dims
    frequencies = axial_inverse_frequencies(chunk, max_wavelength)
    generators = np.zeros((dims, heads, head_dim, head_dim), dtype=np.float32)
    for axis in range(dims):
        for pair, theta in enumerate(frequencies):
            first = axis * chunk + 2 * pair
            generators[axis, :, first + 1, first] = theta
            generators[axis, :, first, first + 1] = -theta
    blocks = head_dim // block_size
    # Keep only the diagonal blocks (the 2x2 generators never cross an even block edge).
    pieces = [slice(b * block_size, (b + 1) * block_size) for b in range(blocks)]
    return np.stack([generators[..., piece, piece] for piece in pieces], axis=2)


def lie_rotations(coordinates, generators):
    """Rotations `(batch, seq, heads, blocks, k, k)` of coordinates `(batch, seq, dims)`.

    `generators` is `(dims, heads, blocks, k, k)`, skew-symmetric over the last two axes.
    """
    # A sum of products, not an einsum: matmul units may round float32 (TF32).
    combined = 0.0
    for axis in range(generators.shape[0]):
        coordinate = coordinates[..., axis][..., None, None, None, None]
        combined = combined + coordinate * ops.cast(generators[axis], "float32")
    return expm(combined)


def apply_rotations(inputs, rotations):
    """Rotate `(..., heads, blocks * k)` inputs by `(..., heads, blocks, k, k)` rotations."""
    blocks, size = rotations.shape[-3], rotations.shape[-1]
    leading = tuple(ops.shape(inputs)[:-1])
    vectors = ops.reshape(inputs, leading + (blocks, size, 1))
    return ops.reshape(ops.matmul(rotations, vectors), ops.shape(inputs))
