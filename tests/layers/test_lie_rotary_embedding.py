"""LieRotaryEmbedding: exp of learned skew-symmetric generators (LieRE), against numpy and RoPE."""

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import jit_compile_supported
from embed_testing import to_numpy

from keras_embed.layers import LieRotaryEmbedding


def expm_skew(matrix):
    """exp of a real skew-symmetric matrix in float64: i*M is Hermitian, so eigh diagonalises it."""
    values, vectors = np.linalg.eigh(1j * np.asarray(matrix, np.float64))
    return (vectors @ np.diag(np.exp(-1j * values)) @ vectors.conj().T).real


def lie_reference(x, coordinates, generators):
    """LieRE eq. (3): x' = exp(sum_a p_a A_a) x per token, head and block, float64."""
    dims, heads, blocks, size, _ = generators.shape
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for s in range(x.shape[1]):
            for h in range(heads):
                for k in range(blocks):
                    combined = np.tensordot(coordinates[b, s], generators[:, h, k], axes=1)
                    piece = slice(k * size, (k + 1) * size)
                    out[b, s, h, piece] = expm_skew(combined) @ x[b, s, h, piece]
    return out


def randomise(layer, rng, scale=0.3):
    """Random generator weights (after build), so the generators are dense and do not commute."""
    weights = rng.standard_normal(layer.generator_weights.shape).astype("float32") * scale
    layer.generator_weights.assign(weights)
    return to_numpy(layer.generators()).astype(np.float64)


def scores(layer, q, k, p, r):
    rotated_q = to_numpy(layer(q, coordinates=p)).astype(np.float64)
    rotated_k = to_numpy(layer(k, coordinates=r)).astype(np.float64)
    return np.einsum("bshd,bthd->bhst", rotated_q, rotated_k)


def test_starts_as_axial_rope_on_adjacent_pairs(rng):
    # Chunk a of the head (8 features, 4 pairs) turns pair t by coordinate a * 100^(-2t/8).
    x = rng.standard_normal((1, 6, 2, 16)).astype("float32")
    coordinates = rng.integers(0, 9, (1, 6, 2)).astype("float32")
    outputs = to_numpy(LieRotaryEmbedding(dims=2)(x, coordinates=coordinates))
    theta = 100.0 ** (-np.arange(0, 8, 2) / 8)
    expected = x.astype(np.float64).copy()
    for axis in range(2):
        angles = coordinates[..., axis, None, None] * theta  # (1, 6, 1, 4)
        first = x[..., axis * 8 : axis * 8 + 8 : 2]
        second = x[..., axis * 8 + 1 : axis * 8 + 8 : 2]
        expected[..., axis * 8 : axis * 8 + 8 : 2] = first * np.cos(angles) - second * np.sin(angles)
        expected[..., axis * 8 + 1 : axis * 8 + 8 : 2] = second * np.cos(angles) + first * np.sin(angles)
    np.testing.assert_allclose(outputs, expected, atol=2e-5)


@pytest.mark.parametrize("block_size", [None, 4])
def test_rotates_by_the_exponential_of_the_combined_generators(block_size, rng):
    x = rng.standard_normal((1, 4, 2, 8)).astype("float32")
    coordinates = rng.uniform(-3, 3, (1, 4, 2)).astype("float32")
    layer = LieRotaryEmbedding(dims=2, block_size=block_size)
    layer.build(x.shape)
    generators = randomise(layer, rng)
    expected = lie_reference(x, coordinates.astype(np.float64), generators)
    np.testing.assert_allclose(to_numpy(layer(x, coordinates=coordinates)), expected, atol=2e-5)


def test_one_axis_scores_depend_only_on_the_offset_even_with_dense_generators(rng):
    q, k = rng.standard_normal((2, 1, 5, 2, 8)).astype("float32")
    p, r = rng.integers(0, 10, (2, 1, 5, 1)).astype("float32")
    layer = LieRotaryEmbedding(dims=1)
    layer.build(q.shape)
    randomise(layer, rng)
    np.testing.assert_allclose(scores(layer, q, k, p + 6, r + 6), scores(layer, q, k, p, r), atol=2e-4)


def test_commuting_generators_keep_scores_relative_per_axis(rng):
    # 2x2 blocks commute: exp(P + Q) = exp(P) exp(Q), so shifts cancel on every axis.
    q, k = rng.standard_normal((2, 1, 5, 2, 8)).astype("float32")
    p, r = rng.integers(0, 10, (2, 1, 5, 2)).astype("float32")
    layer = LieRotaryEmbedding(dims=2, block_size=2)
    layer.build(q.shape)
    randomise(layer, rng)
    shift = np.array([4.0, -3.0], "float32")
    np.testing.assert_allclose(scores(layer, q, k, p + shift, r + shift), scores(layer, q, k, p, r), atol=2e-4)


def test_rotations_preserve_the_norm_of_every_head(rng):
    x = rng.standard_normal((2, 9, 3, 8)).astype("float32")
    layer = LieRotaryEmbedding(dims=2)
    layer.build(x.shape)
    randomise(layer, rng, scale=1.0)
    outputs = to_numpy(layer(x, grid=(3, 3)))
    np.testing.assert_allclose(np.linalg.norm(outputs, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-4)


def test_missing_coordinates_pass_unrotated(rng):
    x = rng.standard_normal((1, 5, 2, 8)).astype("float32")
    coordinates = np.array([[np.nan, np.nan], [0, 0], [0, 1], [1, 0], [1, 1]], "float32")
    outputs = to_numpy(LieRotaryEmbedding()(x, coordinates=coordinates))
    np.testing.assert_allclose(outputs[:, 0], x[:, 0], atol=1e-6)


def test_dtypes(dtype_policy, rng):
    x = rng.standard_normal((1, 4, 2, 8)).astype("float32")
    layer = LieRotaryEmbedding()
    outputs = layer(x, grid=(2, 2))
    assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
    assert keras.backend.standardize_dtype(layer.generator_weights.dtype) == "float32"
    keras.config.set_dtype_policy("float32")
    expected = to_numpy(LieRotaryEmbedding()(x, grid=(2, 2)))
    actual = to_numpy(keras.ops.cast(outputs, "float32"))
    tolerance = 1e-6 if dtype_policy == "float32" else 2.0**-7 * np.abs(x).max()
    np.testing.assert_allclose(actual, expected, atol=tolerance)


def test_compute_output_shape_is_the_input_shape():
    assert LieRotaryEmbedding().compute_output_shape((None, 9, 4, 8)) == (None, 9, 4, 8)


def test_config_round_trip(rng):
    layer = LieRotaryEmbedding(dims=3, max_wavelength=50, block_size=6)
    clone = assert_config_round_trip(layer)
    x = rng.standard_normal((1, 8, 2, 12)).astype("float32")
    np.testing.assert_allclose(to_numpy(clone(x, grid=(2, 2, 2))), to_numpy(layer(x, grid=(2, 2, 2))), atol=0)


def test_saves_and_loads_keras_file(tmp_path, rng):
    inputs = keras.Input((4, 2, 8))
    outputs = LieRotaryEmbedding(block_size=4)(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, outputs)
    assert_saves_and_loads(model, rng.standard_normal((2, 4, 2, 8)).astype("float32"), tmp_path)


def test_fit_step_trains_the_generators_in_a_sequential_model(rng):
    model = keras.Sequential([keras.layers.Dense(8), LieRotaryEmbedding(), keras.layers.Dense(1)])
    x = rng.standard_normal((4, 9, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 9, 1)).astype("float32"))


def test_fit_step_under_jit_compile(rng):
    if not jit_compile_supported():
        pytest.skip("jit_compile=True is XLA, available on JAX and TensorFlow only")
    model = keras.Sequential([keras.layers.Dense(8), LieRotaryEmbedding(block_size=4), keras.layers.Dense(1)])
    x = rng.standard_normal((4, 4, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 4, 1)).astype("float32"), jit_compile=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(dims=0), "`dims` must be a positive integer"),
    (dict(block_size=3), "`block_size` must be an even integer"),
    (dict(max_wavelength=0.5), "`max_wavelength` must be a number greater than 1"),
])
def test_bad_constructor_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LieRotaryEmbedding(**kwargs)


def test_block_size_not_dividing_head_dim_is_rejected():
    with pytest.raises(ValueError, match="`block_size` must divide head_dim. Received: block_size=6, head_dim=8"):
        LieRotaryEmbedding(block_size=6)(np.zeros((1, 4, 8), "float32"), grid=(2, 2))


def test_grid_whose_product_differs_from_the_sequence_is_rejected():
    with pytest.raises(ValueError, match=r"`grid` \(2, 2\) has 4 cells but inputs have 5 tokens"):
        LieRotaryEmbedding()(np.zeros((1, 5, 8), "float32"), grid=(2, 2))
