"""AxialRotaryEmbedding: Gemma 4's vision rotary from transformers, Heo et al.'s formulas, properties."""

import os

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import compiled
from embed_testing import jit_compile_supported
from embed_testing import to_numpy

from keras_embed.layers import AxialRotaryEmbedding
from keras_embed.ops.rope.axial import mixed_frequencies_initial

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "multimodal_rope_reference.npz")
REFERENCE = np.load(FIXTURE)


def rotate_blocks(x, angles):
    """Heo et al. eq. 10-12 in float64: block k's pair t (features t, t + block/2) turns by angles[..., k, t]."""
    dims, half = angles.shape[-2:]
    blocks = x.astype(np.float64).reshape(x.shape[:-1] + (dims, 2 * half))
    first, second = blocks[..., :half], blocks[..., half:]
    cos, sin = np.cos(angles), np.sin(angles)
    rotated = np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
    return rotated.reshape(x.shape)


def axial_angles(coordinates, head_dim, dims, base):
    """RoPE-Axial: theta_t = base^(-t / (block / 2)) on block k, times coordinate k."""
    block = head_dim // dims
    theta = base ** (-np.arange(0, block, 2) / block)
    return np.asarray(coordinates, np.float64)[..., None] * theta  # (..., dims, half)


def grid_cells(*sizes):
    return np.stack([a.reshape(-1) for a in np.meshgrid(*map(np.arange, sizes), indexing="ij")], -1)


def scores(layer, q, k, p, r):
    """Attention logits <R(p) q_i, R(r) k_j> per head: (batch, heads, i, j)."""
    rotated_q = to_numpy(layer(q, coordinates=p)).astype(np.float64)
    rotated_k = to_numpy(layer(k, coordinates=r)).astype(np.float64)
    return np.einsum("bshd,bthd->bhst", rotated_q, rotated_k)


# --- exactness --------------------------------------------------------------------------------


def test_matches_gemma4_vision_rotary_from_transformers():
    layer = AxialRotaryEmbedding(dims=2, max_wavelength=100)
    outputs = to_numpy(layer(REFERENCE["gemma4_vision/inputs"], coordinates=REFERENCE["gemma4_vision/coordinates"]))
    np.testing.assert_allclose(outputs, REFERENCE["gemma4_vision/outputs"], atol=2e-6, rtol=0)


@pytest.mark.parametrize("dims, grid", [(2, (3, 4)), (3, (2, 2, 3)), (1, (6,))])
def test_axial_follows_the_paper_formula_on_a_grid(dims, grid, rng):
    x = rng.standard_normal((2, int(np.prod(grid)), 3, 12)).astype("float32")
    outputs = to_numpy(AxialRotaryEmbedding(dims=dims)(x, grid=grid))
    expected = rotate_blocks(x, axial_angles(grid_cells(*grid), 12, dims, 100)[None, :, None])
    np.testing.assert_allclose(outputs, expected, atol=2e-6)


def test_mixed_turns_each_pair_by_the_sum_over_axes_of_coordinate_times_frequency(rng):
    x = rng.standard_normal((2, 5, 3, 8)).astype("float32")
    coordinates = rng.uniform(-4, 9, (2, 5, 2)).astype("float32")
    layer = AxialRotaryEmbedding(dims=2, learnable=True, seed=3)
    outputs = to_numpy(layer(x, coordinates=coordinates))
    theta = to_numpy(layer.frequencies).astype(np.float64)  # (axes, heads, blocks, half)
    angles = np.einsum("bsa,ahkt->bshkt", coordinates.astype(np.float64), theta)
    np.testing.assert_allclose(outputs, rotate_blocks(x, angles), atol=1e-5)


def test_mixed_starts_from_the_axial_magnitudes_turned_per_head():
    angles = np.array([0.0, np.pi / 3])
    theta = mixed_frequencies_initial(2, 2, 8, 100, angles)  # (axes, heads, blocks, half)
    magnitudes = 100.0 ** (-np.arange(0, 8, 2) / 8)
    # head 0 (angle 0): block k follows axis k only, i.e. axial
    np.testing.assert_allclose(theta[:, 0, 0], [magnitudes, 0 * magnitudes], atol=1e-7)
    np.testing.assert_allclose(theta[:, 0, 1], [0 * magnitudes, magnitudes], atol=1e-7)
    # head 1: block 0 along (cos 60, sin 60), block 1 ninety degrees further
    np.testing.assert_allclose(theta[:, 1, 0], np.outer([0.5, np.sqrt(3) / 2], magnitudes), rtol=1e-6)
    np.testing.assert_allclose(theta[:, 1, 1], np.outer([-np.sqrt(3) / 2, 0.5], magnitudes), rtol=1e-6)


# --- properties ---------------------------------------------------------------------------------


@pytest.mark.parametrize("learnable", [False, True])
def test_scores_depend_only_on_the_offset_per_axis(learnable, rng):
    q, k = rng.standard_normal((2, 1, 6, 2, 8)).astype("float32")
    p, r = rng.integers(0, 20, (2, 1, 6, 2)).astype("float32")
    layer = AxialRotaryEmbedding(dims=2, learnable=learnable, seed=1)
    shift = np.array([5.0, -7.0], "float32")
    np.testing.assert_allclose(scores(layer, q, k, p + shift, r + shift), scores(layer, q, k, p, r), atol=2e-4)


def test_axial_score_ignores_a_shift_along_one_axis_only(rng):
    # Moving every token along rows only must not change scores either (per-axis relativity).
    q, k = rng.standard_normal((2, 1, 4, 1, 8)).astype("float32")
    p, r = rng.integers(0, 10, (2, 1, 4, 2)).astype("float32")
    layer = AxialRotaryEmbedding(dims=2)
    shift = np.array([3.0, 0.0], "float32")
    np.testing.assert_allclose(scores(layer, q, k, p + shift, r + shift), scores(layer, q, k, p, r), atol=1e-4)


def test_missing_coordinates_pass_unrotated_and_the_rest_as_on_the_grid(rng):
    x = rng.standard_normal((1, 7, 2, 8)).astype("float32")  # a CLS token, then a 2x3 grid
    coordinates = np.concatenate([[[np.nan, np.nan]], grid_cells(2, 3)]).astype("float32")
    for learnable in (False, True):
        layer = AxialRotaryEmbedding(dims=2, learnable=learnable, seed=0)
        outputs = to_numpy(layer(x, coordinates=coordinates))
        np.testing.assert_array_equal(outputs[:, 0], x[:, 0])
        np.testing.assert_allclose(outputs[:, 1:], to_numpy(layer(x[:, 1:], grid=(2, 3))), atol=1e-6)


def test_gradients_stay_finite_with_missing_coordinates(rng):
    layer = AxialRotaryEmbedding(dims=2, learnable=True, seed=0)
    coordinates = np.array([[np.nan, np.nan], [0, 1], [1, 0]], "float32")
    model = keras.Sequential([keras.layers.Dense(8), keras.layers.Reshape((3, 2, 4))])
    inputs = keras.Input((3, 8))
    outputs = layer(model(inputs), coordinates=coordinates)
    trained = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Reshape((3, 8))(outputs)))
    assert_fit_step_changes_weights(trained, rng.standard_normal((4, 3, 8)).astype("float32"),
                                    rng.standard_normal((4, 3, 1)).astype("float32"))
    assert np.isfinite(to_numpy(layer.frequencies)).all()


def test_without_grid_a_square_sequence_is_laid_out_as_a_square(rng):
    x = rng.standard_normal((1, 9, 8)).astype("float32")
    layer = AxialRotaryEmbedding()
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(layer(x, grid=(3, 3))))


# --- layer standards -------------------------------------------------------------------------------


def test_compiled_call_matches_eager(rng):
    x = rng.standard_normal((2, 6, 2, 8)).astype("float32")
    coordinates = rng.uniform(0, 5, (2, 6, 2)).astype("float32")
    for learnable in (False, True):
        layer = AxialRotaryEmbedding(learnable=learnable, seed=0)
        eager = to_numpy(layer(x, coordinates=coordinates))  # builds the weights outside the trace, as Dense needs
        function = compiled(lambda inputs, where, layer=layer: layer(inputs, coordinates=where))
        traced = function(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(coordinates))
        np.testing.assert_allclose(to_numpy(traced), eager, atol=1e-5)


@pytest.mark.parametrize("learnable", [False, True])
def test_dtypes_and_bfloat16_error_bound(dtype_policy, learnable, rng):
    x = rng.standard_normal((1, 16, 2, 8)).astype("float32")
    layer = AxialRotaryEmbedding(learnable=learnable, seed=0)
    outputs = layer(x, grid=(4, 4))
    assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
    if learnable:
        assert keras.backend.standardize_dtype(layer.frequencies.dtype) == "float32"
        theta = to_numpy(layer.frequencies).astype(np.float64)
        angles = np.einsum("sa,ahkt->shkt", grid_cells(4, 4).astype(np.float64), theta)[None]
    else:
        assert layer.weights == []
        angles = axial_angles(grid_cells(4, 4), 8, 2, 100)[None, :, None]
    expected = rotate_blocks(x, angles)
    actual = to_numpy(keras.ops.cast(outputs, "float32"))
    if dtype_policy == "float32":
        np.testing.assert_allclose(actual, expected, atol=1e-5)
    else:
        bound = 2.0**-8 * (np.abs(expected) + np.abs(x).max(axis=-1, keepdims=True) * 1.5) + 1e-5
        assert np.all(np.abs(actual - expected) <= bound)


def test_compute_output_shape_is_the_input_shape():
    assert AxialRotaryEmbedding(dims=3).compute_output_shape((None, 8, 4, 12)) == (None, 8, 4, 12)


def test_mask_passes_through():
    ids = keras.Input((4,), dtype="int32")
    hidden = keras.layers.Embedding(10, 8, mask_zero=True)(ids)
    rotated = AxialRotaryEmbedding()(hidden)
    mask = keras.Model(ids, rotated._keras_mask)(np.array([[3, 4, 0, 0]]))
    np.testing.assert_array_equal(to_numpy(mask), [[True, True, False, False]])


@pytest.mark.parametrize("learnable", [False, True])
def test_config_round_trip(learnable, rng):
    layer = AxialRotaryEmbedding(dims=3, max_wavelength=50, learnable=learnable, seed=4)
    clone = assert_config_round_trip(layer)
    x = rng.standard_normal((1, 8, 2, 12)).astype("float32")
    np.testing.assert_allclose(to_numpy(clone(x, grid=(2, 2, 2))), to_numpy(layer(x, grid=(2, 2, 2))), atol=0)


def test_saves_and_loads_keras_file_with_learned_frequencies(tmp_path, rng):
    inputs = keras.Input((9, 2, 8))
    outputs = AxialRotaryEmbedding(learnable=True)(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, outputs)
    assert_saves_and_loads(model, rng.standard_normal((2, 9, 2, 8)).astype("float32"), tmp_path)


def test_fit_step_trains_the_mixed_frequencies_in_a_sequential_model(rng):
    model = keras.Sequential([keras.layers.Dense(8), AxialRotaryEmbedding(learnable=True), keras.layers.Dense(1)])
    x = rng.standard_normal((4, 9, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 9, 1)).astype("float32"))


def test_fit_step_under_jit_compile(rng):
    if not jit_compile_supported():
        pytest.skip("jit_compile=True is XLA, available on JAX and TensorFlow only")
    model = keras.Sequential([keras.layers.Dense(8), AxialRotaryEmbedding(learnable=True), keras.layers.Dense(1)])
    x = rng.standard_normal((4, 9, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 9, 1)).astype("float32"), jit_compile=True)


# --- errors ------------------------------------------------------------------------------------------


def test_grid_whose_product_differs_from_the_sequence_is_rejected():
    with pytest.raises(ValueError, match=r"`grid` \(3, 4\) has 12 cells but inputs have 13 tokens.*NaN"):
        AxialRotaryEmbedding()(np.zeros((1, 13, 8), "float32"), grid=(3, 4))


def test_grid_with_the_wrong_number_of_axes_is_rejected():
    with pytest.raises(ValueError, match="`grid` must be 2 positive integers"):
        AxialRotaryEmbedding()(np.zeros((1, 12, 8), "float32"), grid=(2, 2, 3))


def test_non_square_sequence_without_grid_is_rejected():
    with pytest.raises(ValueError, match="Pass `grid` or `coordinates`: 12 tokens"):
        AxialRotaryEmbedding()(np.zeros((1, 12, 8), "float32"))


def test_head_dim_not_a_multiple_of_twice_dims_is_rejected():
    with pytest.raises(ValueError, match=r"multiple of 2 \* dims = 6.*head_dim=8"):
        AxialRotaryEmbedding(dims=3)(np.zeros((1, 8, 8), "float32"), grid=(2, 2, 2))


def test_coordinates_of_the_wrong_shape_are_rejected():
    with pytest.raises(ValueError, match=r"`coordinates` must have shape \(batch, seq, 2\)"):
        AxialRotaryEmbedding()(np.zeros((1, 4, 8), "float32"), coordinates=np.zeros((1, 4, 3), "float32"))
    with pytest.raises(ValueError, match="one position per token: 3 rows but inputs have 4 tokens"):
        AxialRotaryEmbedding()(np.zeros((1, 4, 8), "float32"), coordinates=np.zeros((3, 2), "float32"))


@pytest.mark.parametrize("kwargs, match", [
    (dict(dims=0), "`dims` must be a positive integer"),
    (dict(max_wavelength=1), "`max_wavelength` must be a number greater than 1"),
    (dict(learnable="yes"), "`learnable` must be a bool"),
    (dict(seed=1.5), "`seed` must be an integer or None"),
])
def test_bad_constructor_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AxialRotaryEmbedding(**kwargs)
