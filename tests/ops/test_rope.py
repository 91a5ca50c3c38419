"""RoPE frequency schedules and the rotation, against transformers and numpy formulas.

`tests/fixtures/rope_reference.npz` holds tables and outputs computed by transformers 5.x
itself (regenerate with `tests/fixtures/make_rope_reference.py`); nothing here needs it
installed.
"""

import ast
import importlib
import json
import os
import pathlib

import keras
import numpy as np
import pytest
from embed_testing import backend
from embed_testing import compiled
from embed_testing import to_numpy

from keras_embed.ops import rope

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "rope_reference.npz")
REFERENCE = np.load(FIXTURE)
CASES = json.loads(str(REFERENCE["metadata"]))["cases"]


def schedule_parameters(case):
    """The schedule keyword arguments of a fixture case's layer arguments."""
    layer = dict(case["layer"])
    rope_type = layer.pop("rope_type")
    base = layer.pop("max_wavelength")
    partial = layer.pop("partial_rotary_factor")
    layer.pop("interleaved")
    if "scaling_factor" in layer:
        layer["factor"] = layer.pop("scaling_factor")
    return rope_type, base, rope.check_rope_parameters(rope_type, layer), partial


def calls(name):
    for index in range(CASES[name]["calls"]):
        yield {key: REFERENCE[f"{name}/{index}/{key}"] for key in (
            "positions", "inputs", "outputs", "inverse_frequencies", "attention_scaling")}


def broadcast_over_heads(cos, sin, positions):
    # (seq, half) or (batch, seq, half) -> (batch or 1, seq, 1, half)
    if positions.ndim == 1:
        cos, sin = cos[None], sin[None]
    return keras.ops.expand_dims(cos, -2), keras.ops.expand_dims(sin, -2)


def rotate_reference(x, angles, interleaved):
    """RoFormer eq. 34 in float64: each feature pair turned by its angle."""
    x = np.asarray(x, np.float64)
    half = angles.shape[-1]
    if interleaved:
        first, second = x[..., 0 : 2 * half : 2], x[..., 1 : 2 * half : 2]
    else:
        first, second = x[..., :half], x[..., half : 2 * half]
    cos, sin = np.cos(angles), np.sin(angles)
    out = x.copy()
    if interleaved:
        out[..., 0 : 2 * half : 2] = first * cos - second * sin
        out[..., 1 : 2 * half : 2] = second * cos + first * sin
    else:
        out[..., :half] = first * cos - second * sin
        out[..., half : 2 * half] = second * cos + first * sin
    return out


# --- schedules against transformers --------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_inverse_frequencies_match_transformers(name):
    rope_type, base, parameters, partial = schedule_parameters(CASES[name])
    for call in calls(name):
        # the length-dependent schedules see the largest position plus one, as transformers does
        length = float(call["positions"].max()) + 1
        inverse_frequencies, _ = rope.rope_frequencies(
            rope_type, CASES[name]["rotary_dim"], base, parameters, sequence_length=length,
            partial_rotary_factor=partial)
        expected = call["inverse_frequencies"]
        np.testing.assert_allclose(inverse_frequencies, expected, rtol=1e-6, atol=0)
        # Stronger: at most one float32 ulp apart (torch's vectorised pow is not always
        # correctly rounded; ours is).
        ulps = np.abs(np.asarray(inverse_frequencies, np.float32).view(np.int32) - expected.view(np.int32))
        assert ulps.max() <= 1, (name, ulps.max())


def test_attention_scaling_matches_transformers_for_every_case():
    for name in CASES:
        rope_type, base, parameters, partial = schedule_parameters(CASES[name])
        for call in calls(name):
            _, scaling = rope.rope_frequencies(
                rope_type, CASES[name]["rotary_dim"], base, parameters,
                sequence_length=float(call["positions"].max()) + 1, partial_rotary_factor=partial)
            assert scaling == pytest.approx(float(call["attention_scaling"]), rel=1e-12), name


def test_rotation_with_transformers_tables_matches_transformers_outputs():
    # Everything after the table (angles, cos/sin, scaling, layout, pass-through) is exact.
    for name, case in CASES.items():
        for call in calls(name):
            cos, sin = rope.rope_cos_sin(
                call["positions"], call["inverse_frequencies"], float(call["attention_scaling"]))
            cos, sin = broadcast_over_heads(cos, sin, call["positions"])
            outputs = rope.apply_rope(
                keras.ops.convert_to_tensor(call["inputs"]), cos, sin, interleaved=case["layer"]["interleaved"])
            np.testing.assert_allclose(to_numpy(outputs), call["outputs"], atol=2e-6, rtol=0, err_msg=name)


# --- schedules against formulas --------------------------------------------------------


def test_default_schedule_is_the_roformer_geometric_series():
    inverse_frequencies, scaling = rope.default_schedule(16, 10000)
    expected = 10000.0 ** (-np.arange(0, 16, 2) / 16)  # theta_i = base^(-2i/d)
    np.testing.assert_allclose(inverse_frequencies, expected, rtol=1e-7)
    assert inverse_frequencies.dtype == np.float32 and scaling == 1.0


def test_ntk_schedule_raises_the_base_by_factor_to_d_over_d_minus_2():
    inverse_frequencies, _ = rope.ntk_schedule(16, 10000, factor=4.0)
    expected = (10000.0 * 4.0 ** (16 / 14)) ** (-np.arange(0, 16, 2) / 16)
    np.testing.assert_allclose(inverse_frequencies, expected, rtol=1e-6)


def test_dynamic_schedule_keeps_the_base_up_to_max_position_embeddings():
    default, _ = rope.default_schedule(16, 10000)
    for length in (1, 100, 512):
        table, _ = rope.dynamic_schedule(16, 10000, factor=2.0, max_position_embeddings=512,
                                         sequence_length=length)
        np.testing.assert_array_equal(table, default)


def test_dynamic_schedule_past_max_position_embeddings_follows_the_issue_formula():
    table, _ = rope.dynamic_schedule(16, 10000, factor=2.0, max_position_embeddings=512, sequence_length=2048)
    base = 10000 * (2.0 * 2048 / 512 - 1.0) ** (16 / 14)
    np.testing.assert_allclose(table, base ** (-np.arange(0, 16, 2) / 16), rtol=1e-6)


def test_dynamic_schedule_with_a_traced_length_matches_the_concrete_one():
    function = compiled(lambda length: rope.dynamic_schedule(
        16, 10000, factor=2.0, max_position_embeddings=512, sequence_length=length)[0])
    for length in (100.0, 3000.0):
        expected, _ = rope.dynamic_schedule(16, 10000, factor=2.0, max_position_embeddings=512,
                                            sequence_length=length)
        traced = to_numpy(function(keras.ops.convert_to_tensor(length, "float32")))
        np.testing.assert_allclose(traced, expected, rtol=1e-6)


def test_longrope_schedule_switches_to_long_factors_only_past_the_original_length():
    short, long = [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]
    base_table, _ = rope.default_schedule(8, 10000)
    kwargs = dict(short_factor=short, long_factor=long, original_max_position_embeddings=64)
    at_limit, _ = rope.longrope_schedule(8, 10000, sequence_length=64, **kwargs)
    past_limit, _ = rope.longrope_schedule(8, 10000, sequence_length=65, **kwargs)
    np.testing.assert_allclose(at_limit, base_table / short, rtol=1e-6)
    np.testing.assert_allclose(past_limit, base_table / long, rtol=1e-6)
    traced = compiled(lambda length: rope.longrope_schedule(8, 10000, sequence_length=length, **kwargs)[0])
    np.testing.assert_allclose(to_numpy(traced(keras.ops.convert_to_tensor(65.0))), past_limit, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(traced(keras.ops.convert_to_tensor(64.0))), at_limit, rtol=1e-6)


def test_longrope_default_attention_scaling_is_sqrt_of_one_plus_log_ratio():
    _, scaling = rope.longrope_schedule(4, 10000, short_factor=[1, 1], long_factor=[2, 2],
                                        original_max_position_embeddings=4096, factor=32.0)
    assert scaling == pytest.approx(np.sqrt(1 + np.log(32.0) / np.log(4096)))


def test_proportional_schedule_rotates_a_fraction_of_the_pairs_with_full_width_exponents():
    table, scaling = rope.proportional_schedule(16, 10000, factor=2.0, partial_rotary_factor=0.5)
    # 4 of 8 pairs rotate, with exponents 2i / 16 (the full head), then zero frequency.
    expected = np.concatenate([10000.0 ** (-np.arange(0, 8, 2) / 16), np.zeros(4)]) / 2.0
    np.testing.assert_allclose(table, expected, rtol=1e-7)
    assert table.shape == (8,) and scaling == 1.0


def test_a_new_rope_type_is_one_function_and_one_entry(monkeypatch):
    from keras_embed.layers import RotaryEmbedding

    def doubled_schedule(rotary_dim, max_wavelength, *, factor, beta_fast=3.0):
        return rope.default_schedule(rotary_dim, max_wavelength)[0] * np.float32(factor), beta_fast

    monkeypatch.setitem(rope.ROPE_TYPES, "doubled", rope.RopeType(doubled_schedule))
    layer = RotaryEmbedding.from_hf_config({"rope_parameters": {"rope_type": "doubled", "factor": 2.0}})
    assert layer.get_config()["beta_fast"] == 3.0 and layer.scaling_factor == 2.0
    x = np.ones((1, 3, 8), "float32")
    expected = RotaryEmbedding(rope_type="default")(x, positions=np.array([0, 2, 4])) * 3.0
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(expected), atol=1e-5)
    with pytest.raises(ValueError, match="rope_type='doubled' requires `factor`"):
        rope.check_rope_parameters("doubled", {})


def test_yarn_default_attention_scaling_is_point_one_log_factor_plus_one():
    _, scaling = rope.yarn_schedule(16, 10000, factor=8.0, original_max_position_embeddings=2048)
    assert scaling == pytest.approx(0.1 * np.log(8.0) + 1)


def test_every_rope_type_transformers_ships_is_registered():
    # The fixture records ROPE_INIT_FUNCTIONS of the transformers that made it, plus "default";
    # "ntk" is ours (transformers' default type with the NTK base).
    shipped = set(json.loads(str(REFERENCE["metadata"]))["transformers_rope_types"])
    assert shipped <= set(rope.ROPE_TYPES), sorted(shipped - set(rope.ROPE_TYPES))


def test_every_registered_rope_type_is_checked_against_transformers_or_a_formula():
    covered = {case["layer"]["rope_type"] for case in CASES.values()}
    assert set(rope.ROPE_TYPES) <= covered, sorted(set(rope.ROPE_TYPES) - covered)


def test_each_schedule_declares_its_parameters_in_its_own_signature():
    assert rope.schedule_parameters("yarn") == {
        "factor": rope.REQUIRED, "original_max_position_embeddings": rope.REQUIRED,
        "beta_fast": 32.0, "beta_slow": 1.0, "mscale": None, "mscale_all_dim": None,
        "attention_factor": None, "truncate": True}
    assert rope.schedule_parameters("default") == {}
    # Every parameter name any schedule takes has exactly one check.
    names = {name for rope_type in rope.ROPE_TYPES for name in rope.schedule_parameters(rope_type)}
    assert names == set(rope.PARAMETER_CHECKS)


def test_check_rope_parameters_fills_the_schedule_defaults():
    assert rope.check_rope_parameters("proportional", {"factor": 2.0}) == {"factor": 2.0}
    assert rope.check_rope_parameters("dynamic", {"factor": 2.0, "max_position_embeddings": 16}) == {
        "factor": 2.0, "max_position_embeddings": 16}
    assert rope.check_rope_parameters("default", {"factor": 1.0, "beta_fast": 32.0}) == {}


# --- the rotation ---------------------------------------------------------------------


@pytest.mark.parametrize("interleaved", [False, True])
def test_apply_rope_turns_each_pair_and_passes_the_rest_through(interleaved, rng):
    x = rng.standard_normal((2, 5, 12)).astype("float32")
    angles = rng.uniform(-3, 3, (2, 5, 4))  # rotary_dim 8 of 12 features
    cos, sin = np.cos(angles).astype("float32"), np.sin(angles).astype("float32")
    outputs = rope.apply_rope(keras.ops.convert_to_tensor(x), cos, sin, interleaved=interleaved)
    expected = rotate_reference(x, angles, interleaved)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(outputs)[..., 8:], x[..., 8:])


def test_rope_cos_sin_are_float32_and_scaled(rng):
    cos, sin = rope.rope_cos_sin(np.arange(4), np.array([1.0, 0.5], "float32"), attention_scaling=2.0)
    angles = np.arange(4)[:, None] * np.array([1.0, 0.5])
    assert keras.backend.standardize_dtype(cos.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(cos), 2 * np.cos(angles), atol=1e-6)
    np.testing.assert_allclose(to_numpy(sin), 2 * np.sin(angles), atol=1e-6)


# --- parameter checks -------------------------------------------------------------------


def test_unknown_rope_type_is_rejected_with_the_known_names():
    with pytest.raises(ValueError, match="Unknown `rope_type`.*'yarn'.*Received: rope_type='su'"):
        rope.get_rope_schedule("su")


def test_missing_required_parameter_is_named():
    with pytest.raises(ValueError, match="rope_type='llama3' requires `high_freq_factor`, `low_freq_factor`"):
        rope.check_rope_parameters("llama3", {"factor": 8.0, "original_max_position_embeddings": 8192})


@pytest.mark.parametrize("factor", [0, -1.0])
def test_non_positive_factor_is_rejected(factor):
    with pytest.raises(ValueError, match="`factor` must be a positive number"):
        rope.check_rope_parameters("linear", {"factor": factor})


def test_parameter_the_scheme_ignores_is_rejected_unless_default():
    with pytest.raises(ValueError, match="`beta_fast` is not used by rope_type='linear'"):
        rope.check_rope_parameters("linear", {"factor": 2.0, "beta_fast": 8.0})
    # 32.0 is yarn's default for it: a config that lists every parameter still loads.
    assert rope.check_rope_parameters("linear", {"factor": 2.0, "beta_fast": 32.0}) == {"factor": 2.0}


def test_llama3_needs_high_freq_factor_above_low_freq_factor():
    with pytest.raises(ValueError, match="`high_freq_factor` must be greater than `low_freq_factor`"):
        rope.check_rope_parameters("llama3", {"factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0,
                                              "original_max_position_embeddings": 8192})


def test_longrope_factor_lists_must_fit_the_rotary_dimension():
    with pytest.raises(ValueError, match="`short_factor` must hold one number per rotary feature pair, 4"):
        rope.longrope_schedule(8, 10000, short_factor=[1.0] * 3, long_factor=[1.0] * 3,
                               original_max_position_embeddings=64)


def test_ntk_types_need_more_than_one_pair():
    with pytest.raises(ValueError, match="rope_type='ntk' needs a rotary dimension above 2"):
        rope.ntk_schedule(2, 10000, factor=2.0)


# --- torch fast path ---------------------------------------------------------------------


@pytest.mark.skipif(backend() != "torch", reason="the fast path exists on torch only")
@pytest.mark.parametrize("interleaved", [False, True])
def test_torch_fast_path_matches_the_portable_path_forward_and_backward(interleaved, rng):
    import torch

    x = rng.standard_normal((2, 5, 3, 12)).astype("float32")
    upstream = torch.tensor(rng.standard_normal(x.shape).astype("float32"))
    angles = rng.uniform(-3, 3, (1, 5, 1, 4)).astype("float32")
    cos, sin = torch.tensor(np.cos(angles)), torch.tensor(np.sin(angles))
    results = []
    for function in (rope.apply_rope, rope.apply_rope_portable):
        inputs = torch.tensor(x, requires_grad=True)
        outputs = function(inputs, cos, sin, interleaved=interleaved)
        outputs.backward(upstream)
        results.append((outputs.detach().numpy(), inputs.grad.numpy()))
    (fast, fast_grad), (portable, portable_grad) = results
    np.testing.assert_allclose(fast, portable, atol=1e-6)
    np.testing.assert_allclose(fast_grad, portable_grad, atol=1e-6)


def test_each_public_rope_name_is_defined_in_one_module_and_loads_from_the_package():
    # `from keras_embed.ops.rope import name` stays the public path; the name lives in one module.
    definitions = {}
    # The backend kernels (`_jax`, `_torch`) implement `apply_rope` behind the public one.
    for path in sorted(pathlib.Path(rope.__file__).parent.glob("[!_]*.py")):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node]
            for target in targets:
                name = getattr(target, "name", getattr(target, "id", None))
                definitions.setdefault(name, []).append(path.stem)
    for name in rope.__all__:
        assert len(definitions.get(name, [])) == 1, (name, definitions.get(name))
        module = importlib.import_module(f"keras_embed.ops.rope.{definitions[name][0]}")
        assert getattr(rope, name) is getattr(module, name)
