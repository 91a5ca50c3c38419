"""RotaryEmbedding: transformers' numbers for every rope type, keras-hub's for the defaults."""

import doctest
import json
import os

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.layers import rotary_embedding
from keras_embed.layers.rotary_embedding import RotaryEmbedding

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "rope_reference.npz")
REFERENCE = np.load(FIXTURE)
CASES = json.loads(str(REFERENCE["metadata"]))["cases"]
PHI3 = CASES["longrope_phi3_d96"]["layer"]

# One valid configuration per rope type (tiny head_dim 8 -> 4 pairs).
EVERY_TYPE = {
    "default": dict(rope_type="default"),
    "linear": dict(rope_type="linear", scaling_factor=2.0),
    "ntk": dict(rope_type="ntk", scaling_factor=4.0),
    "dynamic": dict(rope_type="dynamic", scaling_factor=2.0, max_position_embeddings=16),
    "yarn": dict(rope_type="yarn", scaling_factor=4.0, original_max_position_embeddings=16,
                 beta_fast=8.0, mscale=1.0, mscale_all_dim=0.5),
    "llama3": dict(rope_type="llama3", scaling_factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=16),
    "longrope": dict(rope_type="longrope", scaling_factor=8.0, short_factor=[1.0, 1.2],
                     long_factor=[2.0, 8.0], original_max_position_embeddings=16,
                     partial_rotary_factor=0.5, interleaved=True),
    "proportional": dict(rope_type="proportional", scaling_factor=2.0, partial_rotary_factor=0.5),
}


def keras_hub_reference(x, positions, max_wavelength=10000, scaling_factor=1.0):
    """keras-hub 0.32 `RotaryEmbedding` in float64: rotate-half, theta_i = base^(-2i/d) / factor."""
    half = x.shape[-1] // 2
    inverse_frequencies = max_wavelength ** (-np.arange(0, 2 * half, 2) / (2 * half)) / scaling_factor
    angles = np.asarray(positions, np.float64)[..., None] * inverse_frequencies  # (..., seq, half)
    for _ in range(x.ndim - 3):  # broadcast over the heads axes of (batch, seq, heads..., features)
        angles = angles[..., None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., :half].astype(np.float64), x[..., half:].astype(np.float64)
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def angle_error_allowance(positions, inputs, inverse_frequencies, scaling, rotary_dim, interleaved):
    """How far one float32 ulp of table difference can move each output (see test_rope.py).

    Our tables are correctly rounded; torch's vectorised pow sometimes is not, so a pair
    may turn by up to `|p| * ulp(theta_i) + ulp(p * theta_i)` more or less than in
    transformers, which moves that pair's outputs by at most `scaling * |pair| * angle`.
    """
    half = rotary_dim // 2
    positions = np.abs(positions.astype(np.float64))
    positions = positions[None] if positions.ndim == 1 else positions  # (batch, seq)
    table_ulp = np.spacing(inverse_frequencies).astype(np.float64)
    angles = positions[..., None] * inverse_frequencies  # (batch, seq, half)
    angle_error = positions[..., None] * table_ulp + np.spacing(angles.astype(np.float32))
    if interleaved:
        first, second = inputs[..., 0:rotary_dim:2], inputs[..., 1:rotary_dim:2]
    else:
        first, second = inputs[..., :half], inputs[..., half:rotary_dim]
    pair_norm = np.hypot(first, second)  # (batch, seq, heads, half)
    per_pair = scaling * pair_norm * angle_error[:, :, None, :]
    allowance = np.zeros(inputs.shape)
    allowance[..., :rotary_dim] = np.repeat(per_pair, 2, axis=-1) if interleaved else np.concatenate(
        [per_pair, per_pair], axis=-1)
    return allowance


# --- exactness against transformers ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_match_transformers(name):
    # Calls run in the fixture's order on one layer, so dynamic NTK grows then shrinks
    # and LongRoPE decodes past its original length, as in generation.
    case = CASES[name]
    layer = RotaryEmbedding(**case["layer"])
    for index in range(case["calls"]):
        call = {key: REFERENCE[f"{name}/{index}/{key}"] for key in (
            "positions", "inputs", "outputs", "inverse_frequencies", "attention_scaling")}
        outputs = to_numpy(layer(call["inputs"], positions=call["positions"]))
        allowance = angle_error_allowance(
            call["positions"], call["inputs"], call["inverse_frequencies"],
            float(call["attention_scaling"]), case["rotary_dim"], case["layer"]["interleaved"])
        error = np.abs(outputs - call["outputs"])
        assert np.all(error <= 2e-6 + allowance), (name, index, float(error.max()))


def test_longrope_decode_step_past_the_original_length_uses_long_factors():
    # Fixture call 1 is one token at position 4096 (long factors), call 0 a prefill to 4095.
    layer = RotaryEmbedding(**PHI3)
    step = REFERENCE["longrope_phi3_d96/1/inputs"]
    expected = REFERENCE["longrope_phi3_d96/1/outputs"]
    np.testing.assert_allclose(to_numpy(layer(step, start_index=4096)), expected, atol=2e-5)
    decode = compiled(lambda inputs, index: layer(inputs, start_index=index))
    traced = to_numpy(decode(keras.ops.convert_to_tensor(step), keras.ops.convert_to_tensor(4096)))
    np.testing.assert_allclose(traced, expected, atol=2e-5)
    # The same token one position earlier is still inside the original context: short factors.
    short = RotaryEmbedding(**{**PHI3, "long_factor": PHI3["short_factor"]})
    np.testing.assert_allclose(to_numpy(layer(step, start_index=4095)),
                               to_numpy(short(step, start_index=4095)), atol=1e-6)


def test_dynamic_ntk_is_unscaled_again_after_a_long_call():
    layer = RotaryEmbedding(**EVERY_TYPE["dynamic"])
    default = RotaryEmbedding(rope_type="default")
    x = np.random.default_rng(0).standard_normal((1, 4, 2, 8)).astype("float32")
    long_call = to_numpy(layer(x, start_index=40))  # largest position 43 > 16: rescaled
    assert np.abs(long_call - to_numpy(default(x, start_index=40))).max() > 1e-3
    np.testing.assert_array_equal(to_numpy(layer(x, start_index=3)), to_numpy(default(x, start_index=3)))


# --- keras-hub numerics for the defaults --------------------------------------------------


@pytest.mark.parametrize("scaling_factor", [1.0, 2.5])
def test_defaults_match_keras_hub_formula(scaling_factor, rng):
    x = rng.standard_normal((2, 5, 3, 8)).astype("float32")
    outputs = RotaryEmbedding(scaling_factor=scaling_factor)(x, start_index=7)
    expected = keras_hub_reference(x, np.arange(7, 12), scaling_factor=scaling_factor)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=5e-6)


def test_matches_keras_hub_layer_when_installed(rng):
    keras_hub = pytest.importorskip("keras_hub")
    x = rng.standard_normal((2, 6, 10)).astype("float32")
    positions = np.array([[0, 0, 1, 2, 3, 4], [3, 4, 5, 6, 7, 8]])
    for kwargs in ({}, {"max_wavelength": 500, "scaling_factor": 4.0}):
        ours = RotaryEmbedding(**kwargs)
        peer = keras_hub.layers.RotaryEmbedding(**kwargs)
        np.testing.assert_allclose(to_numpy(ours(x, start_index=3)), to_numpy(peer(x, start_index=3)), atol=2e-6)
        np.testing.assert_allclose(to_numpy(ours(x, positions=positions)),
                                   to_numpy(peer(x, positions=positions)), atol=2e-6)


def test_scaling_factor_divides_positions(rng):
    x = rng.standard_normal((1, 4, 8)).astype("float32")
    scaled = RotaryEmbedding(scaling_factor=4.0)(x, positions=np.array([0, 4, 8, 12]))
    unscaled = RotaryEmbedding()(x, positions=np.array([0.0, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(to_numpy(scaled), to_numpy(unscaled), atol=1e-6)


# --- positions and axes ---------------------------------------------------------------------


def test_left_padded_batch_positions_rotate_each_row_by_its_own_positions(rng):
    x = rng.standard_normal((2, 4, 2, 8)).astype("float32")
    positions = np.array([[1, 1, 0, 1], [0, 1, 2, 3]])  # row 0 left-padded, as generate() writes it
    layer = RotaryEmbedding(**EVERY_TYPE["llama3"])
    batched = to_numpy(layer(x, positions=positions))
    for row in range(2):
        np.testing.assert_allclose(batched[row], to_numpy(layer(x[row : row + 1], positions=positions[row]))[0],
                                   atol=1e-6)


def test_positions_override_start_index(rng):
    x = rng.standard_normal((1, 3, 8)).astype("float32")
    layer = RotaryEmbedding()
    np.testing.assert_array_equal(to_numpy(layer(x, start_index=99, positions=np.array([5, 6, 7]))),
                                  to_numpy(layer(x, start_index=5)))


def test_heads_axis_broadcasts(rng):
    x = rng.standard_normal((2, 5, 3, 8)).astype("float32")
    layer = RotaryEmbedding(**EVERY_TYPE["yarn"])
    with_heads = to_numpy(layer(x, start_index=2))
    for head in range(3):
        np.testing.assert_allclose(with_heads[:, :, head], to_numpy(layer(x[:, :, head], start_index=2)), atol=1e-6)


def test_sequence_and_feature_axes_can_be_anywhere(rng):
    x = rng.standard_normal((2, 3, 5, 8)).astype("float32")  # (batch, heads, seq, head_dim)
    moved = RotaryEmbedding(sequence_axis=2, feature_axis=-1)(x, start_index=4)
    standard = RotaryEmbedding()(np.swapaxes(x, 1, 2), start_index=4)
    np.testing.assert_allclose(to_numpy(moved), np.swapaxes(to_numpy(standard), 1, 2), atol=1e-6)
    features_first = RotaryEmbedding(sequence_axis=2, feature_axis=1)(np.swapaxes(x[:, 0], 1, 2), start_index=4)
    np.testing.assert_allclose(np.swapaxes(to_numpy(features_first), 1, 2), to_numpy(standard)[:, :, 0], atol=1e-6)


def test_partial_rotary_leaves_the_last_features_unchanged(rng):
    x = rng.standard_normal((1, 4, 16)).astype("float32")
    outputs = to_numpy(RotaryEmbedding(partial_rotary_factor=0.25)(x, start_index=3))
    np.testing.assert_array_equal(outputs[..., 4:], x[..., 4:])
    np.testing.assert_allclose(outputs[..., :4], keras_hub_reference(x[..., :4], np.arange(3, 7)), atol=2e-6)


def test_proportional_rotates_the_full_head_in_rotate_half_pairs(rng):
    # 16 features, a quarter of the 8 pairs rotate: pairs (0, 8) and (1, 9); the rest keep.
    x = rng.standard_normal((1, 4, 16)).astype("float32")
    outputs = to_numpy(RotaryEmbedding(rope_type="proportional", partial_rotary_factor=0.25)(x, start_index=3))
    angles = np.arange(3, 7)[:, None] * 10000.0 ** (-np.arange(0, 4, 2) / 16)
    for pair in range(2):
        first, second = x[0, :, pair], x[0, :, pair + 8]
        cos, sin = np.cos(angles[:, pair]), np.sin(angles[:, pair])
        np.testing.assert_allclose(outputs[0, :, pair], first * cos - second * sin, atol=1e-6)
        np.testing.assert_allclose(outputs[0, :, pair + 8], second * cos + first * sin, atol=1e-6)
    unchanged = [i for i in range(16) if i % 8 >= 2]
    np.testing.assert_array_equal(outputs[..., unchanged], x[..., unchanged])


def test_from_hf_config_reads_per_layer_type_parameters():
    config = {"rope_parameters": {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1e6}}}
    full = RotaryEmbedding.from_hf_config(config, layer_type="full_attention")
    sliding = RotaryEmbedding.from_hf_config(config, layer_type="sliding_attention")
    assert (full.rope_type, full.max_wavelength, full.partial_rotary_factor) == ("proportional", 1e6, 0.25)
    assert (sliding.rope_type, sliding.max_wavelength) == ("default", 10000.0)


def test_compute_output_shape_is_the_input_shape():
    assert RotaryEmbedding().compute_output_shape((None, 7, 4, 8)) == (None, 7, 4, 8)


def test_mask_passes_through(rng):
    ids = keras.Input((4,), dtype="int32")
    hidden = keras.layers.Embedding(10, 8, mask_zero=True)(ids)
    rotated = RotaryEmbedding()(hidden)
    mask = keras.Model(ids, rotated._keras_mask)(np.array([[3, 4, 0, 0]]))
    np.testing.assert_array_equal(to_numpy(mask), [[True, True, False, False]])


# --- compilation, dtypes, saving, training --------------------------------------------------


def test_compiled_call_with_traced_start_index_matches_eager(rng):
    x = rng.standard_normal((2, 3, 2, 8)).astype("float32")
    # One static schedule, and the two whose tables follow the traced largest position.
    for rope_type in ("linear", "dynamic", "longrope"):
        kwargs = EVERY_TYPE[rope_type]
        layer = RotaryEmbedding(**kwargs)
        function = compiled(lambda inputs, index, layer=layer: layer(inputs, start_index=index))
        traced = to_numpy(function(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(30)))
        np.testing.assert_allclose(traced, to_numpy(layer(x, start_index=30)), atol=1e-5, err_msg=kwargs["rope_type"])


def test_dtypes_and_bfloat16_error_bound(dtype_policy, rng):
    # Positions near 2048: bfloat16 angles would be off by whole radians; float32 ones are not.
    x = rng.standard_normal((1, 4, 2, 16)).astype("float32")
    layer = RotaryEmbedding(**EVERY_TYPE["yarn"])
    outputs = layer(x, start_index=2045)
    assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
    assert layer.weights == []
    keras.config.set_dtype_policy("float32")
    expected = to_numpy(RotaryEmbedding(**EVERY_TYPE["yarn"])(x, start_index=2045))
    actual = to_numpy(keras.ops.cast(outputs, "float32"))
    if dtype_policy == "float32":
        np.testing.assert_array_equal(actual, expected)
    else:
        # inputs rounded to bfloat16 (rel 2**-9), rotated exactly, rounded once more (rel 2**-9)
        bound = 2.0**-8 * (np.abs(expected) + np.abs(x).max(axis=-1, keepdims=True) * 1.5) + 1e-6
        assert np.all(np.abs(actual - expected) <= bound)


@pytest.mark.parametrize("rope_type", sorted(EVERY_TYPE))
def test_config_round_trip(rope_type):
    layer = RotaryEmbedding(max_wavelength=500, sequence_axis=2, feature_axis=-1, **EVERY_TYPE[rope_type])
    clone = assert_config_round_trip(layer)
    x = np.random.default_rng(0).standard_normal((1, 2, 20, 8)).astype("float32")
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(layer(x)))


def test_saves_and_loads_keras_file(tmp_path, rng):
    inputs = keras.Input((20, 2, 8))
    outputs = RotaryEmbedding(**EVERY_TYPE["longrope"])(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, outputs)
    assert_saves_and_loads(model, rng.standard_normal((2, 20, 2, 8)).astype("float32"), tmp_path)


def test_fit_step_trains_through_the_rotation(rng):
    inputs = keras.Input((6, 8))
    rotated = RotaryEmbedding(**EVERY_TYPE["dynamic"])(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(rotated))
    x = rng.standard_normal((4, 6, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 6, 1)).astype("float32"))


# --- transformers configs ---------------------------------------------------------------------


@pytest.mark.parametrize("form", ["hf_v5", "hf_v4"])
def test_from_hf_config_reads_both_config_forms(form):
    for name, case in CASES.items():
        if form not in case:
            continue
        layer = RotaryEmbedding.from_hf_config(
            case[form], layer_type=case.get("layer_type"), interleaved=case["layer"]["interleaved"])
        expected = RotaryEmbedding(**case["layer"]).get_config()
        assert {**layer.get_config(), "name": None} == {**expected, "name": None}, (name, form)


def test_from_hf_config_takes_original_length_and_factor_like_transformers():
    # Phi-3 keeps the original length at the top level and no factor: factor = 131072 / 4096.
    config = {"max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
              "rope_theta": 10000.0, "rope_scaling": {"type": "longrope", "short_factor": [1.0] * 4,
                                                      "long_factor": [2.0] * 4}}
    layer = RotaryEmbedding.from_hf_config(config)
    assert (layer.scaling_factor, layer.original_max_position_embeddings) == (32.0, 4096)


def test_from_hf_config_nested_by_layer_type_needs_layer_type():
    config = {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                  "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}
    assert RotaryEmbedding.from_hf_config(config, layer_type="sliding_attention").max_wavelength == 1e4
    with pytest.raises(ValueError, match="nested by layer type; pass `layer_type`"):
        RotaryEmbedding.from_hf_config(config)


def test_from_hf_config_unknown_rope_type_is_rejected():
    with pytest.raises(ValueError, match="Unknown `rope_type`.*Received: rope_type='mrope'"):
        RotaryEmbedding.from_hf_config({"rope_scaling": {"type": "mrope", "factor": 2.0}})


def test_from_hf_config_missing_keys_are_named():
    with pytest.raises(ValueError, match="rope_type='llama3' is missing 'low_freq_factor', 'high_freq_factor'"):
        RotaryEmbedding.from_hf_config({"max_position_embeddings": 131072, "rope_parameters": {
            "rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0}})
    with pytest.raises(ValueError, match="rope_type='dynamic' is missing 'max_position_embeddings'"):
        RotaryEmbedding.from_hf_config({"rope_scaling": {"type": "dynamic", "factor": 2.0}})


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("features, partial", [(7, 1.0), (12, 0.25)])
def test_odd_rotary_dimension_is_rejected(features, partial):
    with pytest.raises(ValueError, match="rotary dimension must be a positive even number.*rotary_dim=(7|3)"):
        RotaryEmbedding(partial_rotary_factor=partial)(np.zeros((1, 2, features), "float32"))


@pytest.mark.parametrize("factor", [0, -2.0])
def test_non_positive_scaling_factor_is_rejected(factor):
    with pytest.raises(ValueError, match=f"`scaling_factor` must be a positive number. Received: scaling_factor={factor}"):
        RotaryEmbedding(scaling_factor=factor)


def test_non_positive_scheme_factor_is_rejected():
    with pytest.raises(ValueError, match="`low_freq_factor` must be a positive number"):
        RotaryEmbedding(**{**EVERY_TYPE["llama3"], "low_freq_factor": 0.0})


def test_unknown_rope_type_is_rejected():
    with pytest.raises(ValueError, match="Unknown `rope_type`"):
        RotaryEmbedding(rope_type="su")


def test_parameter_the_rope_type_ignores_is_rejected():
    with pytest.raises(ValueError, match="`low_freq_factor` is not used by rope_type='linear'"):
        RotaryEmbedding(low_freq_factor=1.0)


def test_missing_scheme_parameter_is_rejected():
    with pytest.raises(ValueError, match="rope_type='dynamic' requires `max_position_embeddings`"):
        RotaryEmbedding(rope_type="dynamic", scaling_factor=2.0)


def test_same_sequence_and_feature_axis_is_rejected():
    with pytest.raises(ValueError, match="must be different axes. Received: sequence_axis=2, feature_axis=2"):
        RotaryEmbedding(sequence_axis=2, feature_axis=2)
    # Different numbers, the same axis once the rank is known.
    with pytest.raises(ValueError, match="are the same axis of inputs of rank 3"):
        RotaryEmbedding(sequence_axis=-1, feature_axis=2)(np.zeros((1, 2, 4), "float32"))


@pytest.mark.parametrize("axes", [dict(sequence_axis=3), dict(feature_axis=-4)])
def test_axis_out_of_range_is_rejected(axes):
    with pytest.raises(ValueError, match="out of range for inputs of rank 3"):
        RotaryEmbedding(**axes)(np.zeros((1, 2, 4), "float32"))


def test_positions_of_the_wrong_length_are_rejected():
    with pytest.raises(ValueError, match="`positions` must give one position per token"):
        RotaryEmbedding()(np.zeros((1, 3, 4), "float32"), positions=np.arange(4))


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(rotary_embedding.RotaryEmbedding, "RotaryEmbedding",
                            globs={"RotaryEmbedding": RotaryEmbedding}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted > 0


def test_works_in_a_sequential_model_without_an_input(rng):
    model = keras.Sequential([keras.layers.Dense(8), RotaryEmbedding(rope_type="proportional",
                                                                     partial_rotary_factor=0.5),
                              keras.layers.Dense(1)])
    x = rng.standard_normal((4, 6, 8)).astype("float32")
    assert_fit_step_changes_weights(model, x, rng.standard_normal((4, 6, 1)).astype("float32"))


def test_configs_saved_before_the_parameter_table_still_load():
    # Earlier releases saved every scheme parameter, unused ones at their defaults.
    old = {"max_wavelength": 10000, "scaling_factor": 2.0, "sequence_axis": 1, "feature_axis": -1,
           "rope_type": "linear", "partial_rotary_factor": 1.0, "interleaved": False,
           "max_position_embeddings": None, "original_max_position_embeddings": None,
           "beta_fast": 32.0, "beta_slow": 1.0, "mscale": None, "mscale_all_dim": None,
           "attention_factor": None, "truncate": True, "low_freq_factor": None,
           "high_freq_factor": None, "short_factor": None, "long_factor": None}
    layer = RotaryEmbedding.from_config(old)
    assert layer.get_config()["scaling_factor"] == 2.0 and "beta_fast" not in layer.get_config()
