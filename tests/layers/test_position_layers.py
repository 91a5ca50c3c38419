"""SinePositionEncoding, PositionEmbedding and TokenAndPositionEmbedding."""

import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import compiled
from embed_testing import jit_compile_supported
from embed_testing import to_numpy

from keras_embed.layers import PositionEmbedding
from keras_embed.layers import SinePositionEncoding
from keras_embed.layers import TokenAndPositionEmbedding

SEQUENCE, HIDDEN, VOCABULARY = 7, 10, 20


def sinusoid_reference(positions, hidden, max_wavelength=10000, angle_dtype="float64"):
    """Vaswani et al. (2017): PE[p, 2k] = sin(p / w^(2k/d)), PE[p, 2k+1] = cos(same)."""
    positions = np.asarray(positions, angle_dtype)
    exponents = 2 * (np.arange(hidden) // 2) / hidden
    timescales = (float(max_wavelength) ** -exponents).astype(angle_dtype)
    angles = (positions[..., None] * timescales).astype("float64")
    return np.where(np.arange(hidden) % 2 == 0, np.sin(angles), np.cos(angles))


def model_with(position_layer):
    """ids -> Embedding -> + positions -> Dense, for save/load and fit checks."""
    ids = keras.Input((SEQUENCE,), dtype="int32")
    embedded = keras.layers.Embedding(VOCABULARY, HIDDEN)(ids)
    summed = embedded + position_layer(embedded)
    return keras.Model(ids, keras.layers.Dense(3)(summed))


# --- SinePositionEncoding ---------------------------------------------------------


def test_sine_encoding_matches_the_paper_formula():
    encoding = SinePositionEncoding()(np.zeros((2, SEQUENCE, HIDDEN), "float32"))
    expected = sinusoid_reference(np.arange(SEQUENCE), HIDDEN)
    np.testing.assert_allclose(to_numpy(encoding), np.broadcast_to(expected, (2, SEQUENCE, HIDDEN)), atol=1e-6)


def test_sine_encoding_at_long_positions_matches_float32_angles():
    # float32 angles are what any float32 implementation computes; sin/cos add ~1 ulp.
    encoding = SinePositionEncoding(max_wavelength=500)(np.zeros((1, 4096, 16), "float32"))
    expected = sinusoid_reference(np.arange(4096), 16, 500, angle_dtype="float32")
    np.testing.assert_allclose(to_numpy(encoding)[0], expected, atol=2e-6)


def test_sine_encoding_start_index_shifts_positions():
    encoding = SinePositionEncoding()(np.zeros((1, 3, HIDDEN), "float32"), start_index=5)
    np.testing.assert_allclose(to_numpy(encoding)[0], sinusoid_reference([5, 6, 7], HIDDEN), atol=1e-6)


def test_sine_encoding_per_example_positions_override_start_index():
    positions = np.array([[0, 0, 1], [4, 5, 6]])
    encoding = SinePositionEncoding()(np.zeros((2, 3, HIDDEN), "float32"), start_index=9, positions=positions)
    np.testing.assert_allclose(to_numpy(encoding), sinusoid_reference(positions, HIDDEN), atol=1e-6)


def test_sine_encoding_under_mixed_bfloat16_is_within_bfloat16_rounding():
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = SinePositionEncoding()
    encoding = layer(np.zeros((1, 2049, 64), "float32"))
    assert keras.backend.standardize_dtype(encoding.dtype) == "bfloat16"
    expected = sinusoid_reference(np.arange(2049), 64, angle_dtype="float32")
    error = np.abs(to_numpy(keras.ops.cast(encoding, "float32"))[0] - expected)
    # bfloat16 keeps 8 significant bits: |x| <= 1 rounds by at most 2**-9.
    assert error.max() <= 2.0**-9 + 1e-6, error.max()


def test_sine_encoding_computing_angles_in_bfloat16_would_fail_that_bound():
    # keras-hub's path: positions, timescales and angles rounded to bfloat16 before the sine.
    bf16 = lambda x: to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    positions = bf16(np.arange(2049, dtype="float32"))
    timescales = bf16(10000.0 ** -(2 * (np.arange(64) // 2) / 64))
    angles = bf16(positions[:, None] * timescales)
    keras_hub_like = np.where(np.arange(64) % 2 == 0, np.sin(angles), np.cos(angles))
    reference = sinusoid_reference(np.arange(2049), 64, angle_dtype="float32")
    assert np.abs(keras_hub_like - reference).max() > 0.5


@pytest.mark.parametrize("dtype_policy_name", ["float32", "mixed_bfloat16"])
def test_sine_encoding_config_save_and_fit(dtype_policy_name, tmp_path, rng):
    keras.config.set_dtype_policy(dtype_policy_name)
    layer = SinePositionEncoding(max_wavelength=100)
    assert assert_config_round_trip(layer).max_wavelength == 100
    model = model_with(layer)
    ids = rng.integers(0, VOCABULARY, size=(4, SEQUENCE))
    assert_saves_and_loads(model, ids, tmp_path)
    assert_fit_step_changes_weights(model, ids, rng.normal(size=(4, SEQUENCE, 3)))


def test_sine_encoding_compute_output_shape():
    assert SinePositionEncoding().compute_output_shape((2, 5, 4)) == (2, 5, 4)


def test_sine_encoding_rejects_non_positive_wavelength():
    with pytest.raises(ValueError, match="`max_wavelength` must be a positive number"):
        SinePositionEncoding(max_wavelength=0)


def test_sine_encoding_takes_fractional_positions_like_rotary():
    # One rule for positions that feed an angle: the formula holds at any real position.
    positions = np.array([0.5, 2.25, 7.0], "float32")
    encoding = SinePositionEncoding()(np.zeros((1, 3, HIDDEN), "float32"), positions=positions)
    np.testing.assert_allclose(to_numpy(encoding)[0], sinusoid_reference(positions, HIDDEN), atol=1e-6)


def test_sine_encoding_rejects_boolean_positions():
    with pytest.raises(ValueError, match="`positions` must hold integer or float positions"):
        SinePositionEncoding()(np.zeros((1, 3, 4)), positions=np.array([True, False, True]))


# --- PositionEmbedding ------------------------------------------------------------


def built_position_embedding(sequence_length=SEQUENCE):
    layer = PositionEmbedding(sequence_length)
    layer.build((None, None, HIDDEN))
    return layer


def test_position_embedding_returns_leading_rows_broadcast_over_batch():
    layer = built_position_embedding()
    output = to_numpy(layer(np.zeros((3, 4, HIDDEN), "float32")))
    table = to_numpy(layer.position_embeddings)
    np.testing.assert_array_equal(output, np.broadcast_to(table[:4], (3, 4, HIDDEN)))


def test_position_embedding_start_index_selects_a_window():
    layer = built_position_embedding()
    output = to_numpy(layer(np.zeros((1, 3, HIDDEN), "float32"), start_index=4))
    np.testing.assert_array_equal(output[0], to_numpy(layer.position_embeddings)[4:7])


def test_position_embedding_positions_gather_rows():
    layer = built_position_embedding()
    positions = np.array([[0, 0, 2], [6, 5, 4]])
    output = to_numpy(layer(np.zeros((2, 3, HIDDEN), "float32"), positions=positions))
    np.testing.assert_array_equal(output, to_numpy(layer.position_embeddings)[positions])


def test_position_embedding_window_past_the_table_raises():
    layer = built_position_embedding()
    with pytest.raises(ValueError, match=r"Positions \[5, 8\) do not fit .*sequence_length=7"):
        layer(np.zeros((1, 3, HIDDEN), "float32"), start_index=5)


def test_position_embedding_longer_input_than_the_table_raises():
    with pytest.raises(ValueError, match="do not fit"):
        built_position_embedding()(np.zeros((1, SEQUENCE + 1, HIDDEN), "float32"))


def test_position_embedding_out_of_range_positions_raise():
    with pytest.raises(ValueError, match=r"`positions` holds 7 .*\[0, 7\)"):
        built_position_embedding()(np.zeros((1, 2, HIDDEN), "float32"), positions=np.array([1, 7]))


def test_position_embedding_rejects_float_positions_that_index_its_table():
    with pytest.raises(ValueError, match="`positions` must hold integer ids"):
        built_position_embedding()(np.zeros((1, 2, HIDDEN), "float32"), positions=np.array([0.5, 1.5]))


def test_position_embedding_out_of_range_window_is_zero_inside_compiled_functions():
    layer = built_position_embedding()
    inputs = keras.ops.zeros((1, 3, HIDDEN))
    start = keras.ops.convert_to_tensor(np.array(5, "int32"))
    output = to_numpy(compiled(lambda x, s: layer(x, start_index=s))(inputs, start))
    table = to_numpy(layer.position_embeddings)
    np.testing.assert_array_equal(output[0, :2], table[5:7])
    np.testing.assert_array_equal(output[0, 2], np.zeros(HIDDEN))


@pytest.mark.parametrize("dtype_policy_name", ["float32", "mixed_bfloat16"])
def test_position_embedding_config_save_and_fit(dtype_policy_name, tmp_path, rng):
    keras.config.set_dtype_policy(dtype_policy_name)
    layer = PositionEmbedding(SEQUENCE, initializer="he_normal")
    assert assert_config_round_trip(layer).sequence_length == SEQUENCE
    model = model_with(layer)
    ids = rng.integers(0, VOCABULARY, size=(4, SEQUENCE))
    assert_saves_and_loads(model, ids, tmp_path)
    assert_fit_step_changes_weights(model, ids, rng.normal(size=(4, SEQUENCE, 3)))
    assert keras.backend.standardize_dtype(layer.position_embeddings.dtype) == "float32"


def test_position_embedding_fit_under_jit_compile(rng):
    if not jit_compile_supported():
        pytest.skip("jit_compile=True is XLA, available on JAX and TensorFlow only")
    model = model_with(PositionEmbedding(SEQUENCE))
    ids = rng.integers(0, VOCABULARY, size=(4, SEQUENCE))
    assert_fit_step_changes_weights(model, ids, rng.normal(size=(4, SEQUENCE, 3)), jit_compile=True)


@pytest.mark.parametrize("sequence_length", [None, 0, 2.5])
def test_position_embedding_rejects_bad_sequence_length(sequence_length):
    with pytest.raises(ValueError, match="`sequence_length` must be a positive integer"):
        PositionEmbedding(sequence_length)


# --- TokenAndPositionEmbedding ----------------------------------------------------


def test_token_and_position_embedding_sums_both_tables(rng):
    layer = TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, HIDDEN)
    ids = rng.integers(0, VOCABULARY, size=(2, 5))
    output = to_numpy(layer(ids))
    tokens = to_numpy(layer.token_embedding.embeddings)[ids]
    positions = to_numpy(layer.position_embedding.position_embeddings)[:5]
    np.testing.assert_allclose(output, tokens + positions, rtol=1e-6)


def test_token_and_position_embedding_forwards_start_index(rng):
    layer = TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, HIDDEN)
    ids = rng.integers(0, VOCABULARY, size=(1, 2))
    output = to_numpy(layer(ids, start_index=3))
    expected = to_numpy(layer.token_embedding.embeddings)[ids] + to_numpy(
        layer.position_embedding.position_embeddings)[3:5]
    np.testing.assert_allclose(output, expected, rtol=1e-6)


def test_token_and_position_embedding_propagates_the_token_mask():
    layer = TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, HIDDEN, mask_zero=True)
    ids = np.array([[4, 0, 3]])
    output = layer(ids)
    assert to_numpy(output._keras_mask).tolist() == [[True, False, True]]
    np.testing.assert_array_equal(to_numpy(layer.compute_mask(ids)), ids != 0)


def test_token_and_position_embedding_reverse_uses_its_token_table(rng):
    layer = TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, HIDDEN)
    hidden = to_numpy(layer(rng.integers(0, VOCABULARY, size=(1, 3))))
    logits = to_numpy(layer.token_embedding(hidden, reverse=True))
    np.testing.assert_allclose(logits, hidden @ to_numpy(layer.token_embedding.embeddings).T, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype_policy_name", ["float32", "mixed_bfloat16"])
def test_token_and_position_embedding_config_save_and_fit(dtype_policy_name, tmp_path, rng):
    keras.config.set_dtype_policy(dtype_policy_name)
    layer = TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, HIDDEN, tie_weights=False)
    clone = assert_config_round_trip(layer)
    assert clone.token_embedding.tie_weights is False
    ids = keras.Input((SEQUENCE,), dtype="int32")
    model = keras.Model(ids, keras.layers.Dense(3)(layer(ids)))
    batch = rng.integers(1, VOCABULARY, size=(4, SEQUENCE))
    assert_saves_and_loads(model, batch, tmp_path)
    # The untied reverse matrix gets no gradient from this model, so check the rest moved.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = to_numpy(layer.position_embedding.position_embeddings).copy()
    model.fit(batch, rng.normal(size=(4, SEQUENCE, 3)), verbose=0)
    assert not np.array_equal(before, to_numpy(layer.position_embedding.position_embeddings))


def test_token_and_position_embedding_compute_output_shape():
    layer = TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, HIDDEN)
    assert layer.compute_output_shape((2, 5)) == (2, 5, HIDDEN)


def test_token_and_position_embedding_rejects_missing_sizes():
    with pytest.raises(ValueError, match="`embedding_dim` must be a positive integer"):
        TokenAndPositionEmbedding(VOCABULARY, SEQUENCE, None)
