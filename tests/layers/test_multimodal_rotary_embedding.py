"""MultimodalRotaryEmbedding: transformers' Qwen2-VL / Qwen2.5-VL / Qwen3-VL rotary, and the formulas."""

import json
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

from keras_embed.layers import MultimodalRotaryEmbedding
from keras_embed.layers import RotaryEmbedding
from keras_embed.ops import multimodal_positions

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "multimodal_rope_reference.npz")
REFERENCE = np.load(FIXTURE)
MODELS = json.loads(str(REFERENCE["metadata"]))["models"]


def mrope_reference(x, positions, section, interleaved, base):
    """Qwen2-VL section 2.1: pair i turns by its axis's position * base^(-2i/d).

    The angle is one float32 product, as in transformers and the layer; the rest is float64.
    """
    half = x.shape[-1] // 2
    axes = np.repeat([0, 1, 2], section)
    if interleaved:  # Qwen3-VL: height and width every third pair, time the rest
        axes = np.zeros(half, int)
        axes[1 : 3 * section[1] : 3], axes[2 : 3 * section[2] : 3] = 1, 2
    pair_positions = np.moveaxis(np.asarray(positions, np.float64)[axes], 0, -1)  # (batch, seq, half)
    inverse_frequencies = (base ** (-np.arange(0, 2 * half, 2) / (2 * half))).astype(np.float32)
    angles = (pair_positions.astype(np.float32) * inverse_frequencies).astype(np.float64)
    angles = angles.reshape(angles.shape[:2] + (1,) * (x.ndim - 3) + (half,))
    first, second = x[..., :half].astype(np.float64), x[..., half:].astype(np.float64)
    cos, sin = np.cos(angles), np.sin(angles)
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


# A valid split of 8 pairs (head_dim 16) per layout; interleaved needs height and width pairs
# below 3 * section, so (2, 3, 3) only fits chunked.
SECTIONS = {False: [2, 3, 3], True: [4, 2, 2]}


def random_positions(rng, batch=2, sequence=7, top=50):
    return rng.integers(0, top, (3, batch, sequence))


# --- exactness against transformers ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_outputs_match_transformers_at_get_rope_index_positions(name):
    layer = MultimodalRotaryEmbedding.from_hf_config(MODELS[name]["config"])
    outputs = to_numpy(layer(REFERENCE[f"{name}/inputs"], positions=REFERENCE[f"{name}/positions"]))
    # Same float32 tables as transformers (positions below 64): the tolerance rule of RotaryEmbedding.
    np.testing.assert_allclose(outputs, REFERENCE[f"{name}/outputs"], atol=2e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_from_hf_config_reads_sections_layout_and_base(name):
    model = MODELS[name]
    layer = MultimodalRotaryEmbedding.from_hf_config(model["config"])
    assert layer.mrope_section == model["mrope_section"]
    assert layer.interleaved == model["interleaved"]
    assert layer.max_wavelength == model["max_wavelength"]


def test_from_hf_config_reads_the_qwen2_vl_hub_form():
    # transformers 4.x config.json of Qwen2-VL: top-level rope_theta, rope_scaling type "mrope".
    config = {"model_type": "qwen2_vl", "rope_theta": 1000000.0, "max_position_embeddings": 32768,
              "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}
    layer = MultimodalRotaryEmbedding.from_hf_config(config)
    assert (layer.mrope_section, layer.interleaved, layer.rope_type) == ([16, 24, 24], False, "default")


def test_from_hf_config_qwen3_vl_without_layout_keys_uses_the_model_default():
    config = {"model_type": "qwen3_vl", "text_config": {"model_type": "qwen3_vl_text", "rope_theta": 5e6,
                                                        "rope_scaling": {"rope_type": "default"}}}
    layer = MultimodalRotaryEmbedding.from_hf_config(config)
    assert (layer.mrope_section, layer.interleaved) == ([24, 20, 20], True)


def test_from_hf_config_without_section_or_known_model_is_rejected():
    with pytest.raises(ValueError, match="no `mrope_section`"):
        MultimodalRotaryEmbedding.from_hf_config({"model_type": "other", "rope_theta": 1e4})


# --- formulas and properties ---------------------------------------------------------------------


@pytest.mark.parametrize("interleaved", [False, True])
def test_each_pair_turns_by_its_own_axis_position(interleaved, rng):
    x = rng.standard_normal((2, 7, 3, 16)).astype("float32")
    positions = random_positions(rng)
    layer = MultimodalRotaryEmbedding(SECTIONS[interleaved], interleaved=interleaved, max_wavelength=500)
    expected = mrope_reference(x, positions, SECTIONS[interleaved], interleaved, 500)
    np.testing.assert_allclose(to_numpy(layer(x, positions=positions)), expected, atol=2e-5)


@pytest.mark.parametrize("interleaved", [False, True])
def test_scores_depend_only_on_the_offset_per_axis(interleaved, rng):
    # q at p, k at r: <R(p) q, R(r) k> is unchanged when both move by the same (dt, dh, dw).
    q, k = rng.standard_normal((2, 1, 5, 16)).astype("float32")
    p, r = random_positions(rng, 1, 5, 30), random_positions(rng, 1, 5, 30)
    shift = np.array([7, -3, 11])[:, None, None]
    layer = MultimodalRotaryEmbedding(SECTIONS[interleaved], interleaved=interleaved)
    scores = np.einsum("bsd,btd->bst", to_numpy(layer(q, positions=p)), to_numpy(layer(k, positions=r)))
    shifted = np.einsum("bsd,btd->bst", to_numpy(layer(q, positions=p + shift)),
                        to_numpy(layer(k, positions=r + shift)))
    np.testing.assert_allclose(shifted, scores, atol=1e-4)


def test_text_positions_equal_plain_rotary_embedding(rng):
    x = rng.standard_normal((2, 6, 2, 16)).astype("float32")
    layer = MultimodalRotaryEmbedding([4, 2, 2], interleaved=True, max_wavelength=1e6)
    plain = RotaryEmbedding(max_wavelength=1e6, rope_type="default")
    np.testing.assert_allclose(to_numpy(layer(x, start_index=5)), to_numpy(plain(x, start_index=5)), atol=1e-6)
    text = multimodal_positions(np.zeros((2, 6), "int64"))[0] + 5
    np.testing.assert_allclose(to_numpy(layer(x, positions=text)), to_numpy(plain(x, start_index=5)), atol=1e-6)


def test_positions_with_batch_one_broadcast_over_the_batch(rng):
    x = rng.standard_normal((3, 4, 8)).astype("float32")
    positions = random_positions(rng, 1, 4)
    layer = MultimodalRotaryEmbedding([1, 2, 1])
    np.testing.assert_allclose(to_numpy(layer(x, positions=positions)),
                               to_numpy(layer(x, positions=np.repeat(positions, 3, axis=1))), atol=0)


def test_a_scaled_rope_type_uses_its_schedule(rng):
    x = rng.standard_normal((1, 4, 2, 16)).astype("float32")
    positions = random_positions(rng, 1, 4)
    linear = MultimodalRotaryEmbedding([2, 3, 3], rope_type="linear", scaling_factor=4.0)
    expected = MultimodalRotaryEmbedding([2, 3, 3])(x, positions=positions / 4.0)
    np.testing.assert_allclose(to_numpy(linear(x, positions=positions)), to_numpy(expected), atol=1e-6)
    dynamic = MultimodalRotaryEmbedding([2, 3, 3], rope_type="dynamic", scaling_factor=2.0,
                                        max_position_embeddings=8)
    assert np.abs(to_numpy(dynamic(x, positions=positions)) - to_numpy(expected)).max() > 1e-3


def test_compiled_call_with_traced_positions_matches_eager(rng):
    x = rng.standard_normal((2, 5, 2, 16)).astype("float32")
    positions = random_positions(rng, 2, 5)
    for kwargs in ({}, {"rope_type": "dynamic", "scaling_factor": 2.0, "max_position_embeddings": 8}):
        layer = MultimodalRotaryEmbedding([2, 3, 3], **kwargs)
        function = compiled(lambda inputs, where, layer=layer: layer(inputs, positions=where))
        traced = function(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(positions))
        np.testing.assert_allclose(to_numpy(traced), to_numpy(layer(x, positions=positions)), atol=1e-5)


def test_dtypes_and_bfloat16_error_bound(dtype_policy, rng):
    x = rng.standard_normal((1, 4, 2, 16)).astype("float32")
    positions = random_positions(rng, 1, 4, top=2000)
    layer = MultimodalRotaryEmbedding([2, 3, 3])
    outputs = layer(x, positions=positions)
    assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
    assert layer.weights == []
    expected = mrope_reference(x, positions, (2, 3, 3), False, 10000)
    actual = to_numpy(keras.ops.cast(outputs, "float32"))
    if dtype_policy == "float32":
        np.testing.assert_allclose(actual, expected, atol=2e-5)
    else:
        # angles in float32; inputs and outputs each rounded to bfloat16 once (rel 2**-9)
        bound = 2.0**-8 * (np.abs(expected) + np.abs(x).max(axis=-1, keepdims=True) * 1.5) + 1e-5
        assert np.all(np.abs(actual - expected) <= bound)


def test_compute_output_shape_is_the_input_shape():
    assert MultimodalRotaryEmbedding([2, 3, 3]).compute_output_shape((None, 7, 4, 16)) == (None, 7, 4, 16)


def test_mask_passes_through():
    ids = keras.Input((4,), dtype="int32")
    hidden = keras.layers.Embedding(10, 8, mask_zero=True)(ids)
    rotated = MultimodalRotaryEmbedding([1, 2, 1])(hidden)
    mask = keras.Model(ids, rotated._keras_mask)(np.array([[3, 4, 0, 0]]))
    np.testing.assert_array_equal(to_numpy(mask), [[True, True, False, False]])


def test_config_round_trip(rng):
    layer = MultimodalRotaryEmbedding([4, 2, 2], interleaved=True, max_wavelength=500, rope_type="yarn",
                                      scaling_factor=4.0, original_max_position_embeddings=16)
    clone = assert_config_round_trip(layer)
    x = rng.standard_normal((1, 5, 16)).astype("float32")
    np.testing.assert_array_equal(to_numpy(clone(x, start_index=3)), to_numpy(layer(x, start_index=3)))


def test_saves_and_loads_keras_file(tmp_path, rng):
    inputs = keras.Input((6, 2, 8))
    positions = keras.Input((3, 6), dtype="int32")  # (batch, 3, seq) as a model input
    rotary = MultimodalRotaryEmbedding([2, 1, 1], interleaved=True)
    outputs = rotary(keras.layers.Dense(8)(inputs), positions=keras.ops.moveaxis(positions, 1, 0))
    model = keras.Model([inputs, positions], outputs)
    data = [rng.standard_normal((2, 6, 2, 8)).astype("float32"), rng.integers(0, 9, (2, 3, 6)).astype("int32")]
    assert_saves_and_loads(model, data, tmp_path)


def test_fit_step_trains_through_the_rotation(rng):
    model = keras.Sequential([keras.layers.Dense(8), MultimodalRotaryEmbedding([1, 2, 1]), keras.layers.Dense(1)])
    x = rng.standard_normal((4, 6, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 6, 1)).astype("float32"))


def test_fit_step_under_jit_compile(rng):
    if not jit_compile_supported():
        pytest.skip("jit_compile=True is XLA, available on JAX and TensorFlow only")
    model = keras.Sequential([keras.layers.Dense(8), MultimodalRotaryEmbedding([2, 1, 1], interleaved=True),
                              keras.layers.Dense(1)])
    x = rng.standard_normal((4, 6, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 6, 1)).astype("float32"), jit_compile=True)


# --- errors ---------------------------------------------------------------------------------------


def test_mrope_section_not_summing_to_half_the_head_is_rejected():
    with pytest.raises(ValueError, match=r"must sum to head_dim / 2.*\[2, 3, 2\] \(sum 7\).*head_dim=16"):
        MultimodalRotaryEmbedding([2, 3, 2])(np.zeros((1, 3, 16), "float32"))


@pytest.mark.parametrize("shape", [(2, 5), (1, 2, 5), (3, 1, 2, 5)])
def test_positions_of_the_wrong_rank_are_rejected(shape):
    with pytest.raises(ValueError, match=r"`positions` must have shape \(3, batch, seq\)"):
        MultimodalRotaryEmbedding([1, 2, 1])(np.zeros((2, 5, 8), "float32"), positions=np.zeros(shape, "int32"))


def test_positions_of_the_wrong_length_are_rejected():
    with pytest.raises(ValueError, match="one position per token: its last axis has 4 entries but inputs have 5"):
        MultimodalRotaryEmbedding([1, 2, 1])(np.zeros((2, 5, 8), "float32"), positions=np.zeros((3, 2, 4), "int32"))


def test_inputs_without_a_batch_axis_are_rejected():
    with pytest.raises(ValueError, match="rank 3 or more. Received inputs of rank 2"):
        MultimodalRotaryEmbedding([1, 2, 1])(np.zeros((5, 8), "float32"))


def test_non_bool_interleaved_is_rejected():
    with pytest.raises(ValueError, match="`interleaved` must be a bool. Received: interleaved=1"):
        MultimodalRotaryEmbedding([1, 2, 1], interleaved=1)


def test_partial_rope_type_is_rejected():
    with pytest.raises(ValueError, match="rope_type='proportional' rotates part of the head"):
        MultimodalRotaryEmbedding([1, 2, 1], rope_type="proportional")
