import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import compiled
from embed_testing import jit_compile_supported
from embed_testing import to_numpy

from keras_embed.layers import ReversibleEmbedding

VOCABULARY, WIDTH = 11, 6


def built_layer(**kwargs):
    layer = ReversibleEmbedding(VOCABULARY, WIDTH, **kwargs)
    layer.build()
    return layer


def language_model(**kwargs):
    """ids (batch, 5) -> embeddings -> reverse logits (batch, 5, V)."""
    embedding = ReversibleEmbedding(VOCABULARY, WIDTH, **kwargs)
    ids = keras.Input((5,), dtype="int32")
    logits = embedding(embedding(ids), reverse=True)
    return keras.Model(ids, logits)


def test_forward_returns_the_table_rows_of_the_ids(rng):
    layer = built_layer()
    ids = rng.integers(0, VOCABULARY, size=(3, 4))
    expected = to_numpy(layer.embeddings)[ids]
    np.testing.assert_array_equal(to_numpy(layer(ids)), expected)


def test_reverse_projection_uses_transposed_table_when_tied(rng):
    layer = built_layer()
    hidden = rng.normal(size=(2, 3, WIDTH)).astype("float32")
    expected = hidden.astype("float64") @ to_numpy(layer.embeddings).T.astype("float64")
    np.testing.assert_allclose(to_numpy(layer(hidden, reverse=True)), expected, rtol=1e-5, atol=1e-6)


def test_reverse_projection_uses_separate_matrix_when_untied(rng):
    layer = built_layer(tie_weights=False)
    hidden = rng.normal(size=(2, 3, WIDTH)).astype("float32")
    kernel = to_numpy(layer.reverse_embeddings)
    assert kernel.shape == (WIDTH, VOCABULARY)
    assert not np.allclose(kernel, to_numpy(layer.embeddings).T)
    expected = hidden.astype("float64") @ kernel.astype("float64")
    np.testing.assert_allclose(to_numpy(layer(hidden, reverse=True)), expected, rtol=1e-5, atol=1e-6)


def test_one_trainable_weight_when_tied_and_two_when_untied():
    assert len(built_layer().trainable_weights) == 1
    assert len(built_layer(tie_weights=False).trainable_weights) == 2


def test_logit_soft_cap_squashes_logits_with_tanh(rng):
    layer = built_layer(logit_soft_cap=2.0)
    hidden = 10 * rng.normal(size=(4, WIDTH)).astype("float32")
    raw = hidden.astype("float64") @ to_numpy(layer.embeddings).T.astype("float64")
    expected = np.tanh(raw / 2.0) * 2.0
    logits = to_numpy(layer(hidden, reverse=True))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(logits).max() < 2.0


def test_reverse_dtype_casts_both_operands_before_the_product():
    layer = ReversibleEmbedding(2, 2, reverse_dtype="bfloat16")
    layer.build()
    layer.embeddings.assign([[1.0, 1.0], [1.0, -1.0]])
    # The exact logits are [0.001, 2.001]. bfloat16 operands round 1.001 to 1.0 and give
    # [0, 2] exactly; rounding only the float32 output would give [0.000999, 2.0].
    logits = layer(np.array([[1.001, -1.0]], "float32"), reverse=True)
    assert keras.backend.standardize_dtype(logits.dtype) == "bfloat16"
    np.testing.assert_array_equal(to_numpy(keras.ops.cast(logits, "float32")), [[0.0, 2.0]])


def test_forward_output_carries_padding_mask_and_reverse_output_none():
    layer = built_layer(mask_zero=True)
    ids = np.array([[0, 3, 0, 5]])
    hidden = layer(ids)
    np.testing.assert_array_equal(to_numpy(layer.compute_mask(ids)), ids != 0)
    assert to_numpy(hidden._keras_mask).tolist() == (ids != 0).tolist()
    logits = layer(hidden, reverse=True)
    assert getattr(logits, "_keras_mask", None) is None
    assert layer.compute_mask(hidden) is None


def test_mask_propagates_through_a_functional_model():
    ids = keras.Input((4,), dtype="int32")
    embedded = ReversibleEmbedding(VOCABULARY, WIDTH, mask_zero=True)(ids)
    pooled = keras.layers.GlobalAveragePooling1D()(embedded)
    model = keras.Model(ids, pooled)
    batch = np.array([[3, 0, 0, 0]])
    # A masked mean over one real token equals that token's row.
    row = to_numpy(model.layers[1].embeddings)[3]
    np.testing.assert_allclose(to_numpy(model(batch))[0], row, rtol=1e-6)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_config_round_trip(tie_weights):
    layer = ReversibleEmbedding(
        VOCABULARY, WIDTH, tie_weights=tie_weights, mask_zero=True,
        reverse_dtype="float32", logit_soft_cap=30.0,
    )
    clone = assert_config_round_trip(layer)
    assert clone.tie_weights is tie_weights and clone.logit_soft_cap == 30.0


@pytest.mark.parametrize("tie_weights", [True, False])
def test_saves_and_loads_as_keras_file(tie_weights, tmp_path, rng):
    model = language_model(tie_weights=tie_weights)
    ids = rng.integers(0, VOCABULARY, size=(2, 5))
    reloaded = assert_saves_and_loads(model, ids, tmp_path)
    assert len(reloaded.trainable_weights) == (1 if tie_weights else 2)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_fit_step_trains_every_weight(tie_weights, rng):
    model = language_model(tie_weights=tie_weights)
    ids = rng.integers(0, VOCABULARY, size=(8, 5))
    assert_fit_step_changes_weights(
        model, ids, ids, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )


def test_fit_step_under_jit_compile(rng):
    if not jit_compile_supported():
        pytest.skip("jit_compile=True is XLA, available on JAX and TensorFlow only")
    model = language_model()
    ids = rng.integers(0, VOCABULARY, size=(8, 5))
    assert_fit_step_changes_weights(
        model, ids, ids, jit_compile=True,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def test_dtype_policies(dtype_policy, rng):
    layer = built_layer()
    ids = rng.integers(0, VOCABULARY, size=(2, 3))
    hidden = layer(ids)
    logits = layer(hidden, reverse=True)
    assert keras.backend.standardize_dtype(layer.embeddings.dtype) == "float32"
    expected_compute = "bfloat16" if dtype_policy == "mixed_bfloat16" else "float32"
    assert keras.backend.standardize_dtype(hidden.dtype) == expected_compute
    # Reverse projections are float32 whatever the policy.
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    # Unit-scale values make logits of order 1, so one bfloat16 rounding (3 significant
    # digits) is far outside the float32 tolerance below.
    layer.embeddings.assign(rng.normal(size=(VOCABULARY, WIDTH)).astype("float32"))
    logits = to_numpy(layer(layer(ids), reverse=True))
    table = to_numpy(layer.embeddings).astype("float64")
    # The forward output is the table rounded to the compute dtype; the reverse
    # projection multiplies it by the float32 table, in float32.
    rounded = to_numpy(keras.ops.cast(keras.ops.cast(layer.embeddings, expected_compute), "float32"))
    expected = rounded.astype("float64")[ids] @ table.T
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    if dtype_policy == "mixed_bfloat16":
        # Neither a bfloat16 table operand nor a bfloat16 output meets that tolerance.
        assert np.abs(rounded[ids] @ rounded.astype("float64").T - expected).max() > 1e-3
        bfloat16_output = to_numpy(keras.ops.cast(keras.ops.cast(expected, "bfloat16"), "float32"))
        assert np.abs(bfloat16_output - expected).max() > 1e-3


def test_compute_output_shape_mirrors_call():
    layer = built_layer()
    assert layer.compute_output_shape((2, 7)) == (2, 7, WIDTH)
    assert layer.compute_output_shape((2, 7, WIDTH), reverse=True) == (2, 7, VOCABULARY)
    ids = keras.Input((7,), dtype="int32")
    assert tuple(layer(layer(ids), reverse=True).shape) == (None, 7, VOCABULARY)


def test_lora_on_tied_table_changes_reverse_projection(rng):
    layer = built_layer()
    layer.enable_lora(2)
    layer.lora_embeddings_b.assign(np.ones((2, WIDTH), "float32"))
    effective = to_numpy(layer.embeddings)
    base = to_numpy(layer._embeddings)
    assert not np.allclose(effective, base)
    hidden = rng.normal(size=(3, WIDTH)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(layer(hidden, reverse=True)), hidden @ effective.T, rtol=1e-5, atol=1e-5
    )
    ids = np.array([1, 4])
    np.testing.assert_allclose(to_numpy(layer(ids)), effective[ids], rtol=1e-6)
    assert [w.name for w in layer.trainable_weights] == ["lora_embeddings_a", "lora_embeddings_b"]


@pytest.mark.parametrize("bad_id", [VOCABULARY, VOCABULARY + 5, -1])
def test_out_of_range_ids_raise_when_values_are_known(bad_id):
    layer = built_layer()
    with pytest.raises(ValueError, match=rf"holds {bad_id} .*\[0, {VOCABULARY}\)"):
        layer(np.array([[1, bad_id]]))


def test_out_of_range_ids_embed_to_zeros_inside_compiled_functions():
    layer = built_layer()
    ids = keras.ops.convert_to_tensor(np.array([[2, VOCABULARY, -1, 3]], "int32"))
    embedded = to_numpy(compiled(lambda x: layer(x))(ids))
    table = to_numpy(layer.embeddings)
    np.testing.assert_array_equal(embedded[0, 0], table[2])
    np.testing.assert_array_equal(embedded[0, 1:3], np.zeros((2, WIDTH)))
    np.testing.assert_array_equal(embedded[0, 3], table[3])
    assert np.isfinite(embedded).all()


def test_fractional_float_ids_raise_naming_the_first():
    with pytest.raises(ValueError, match=r"integer ids.*2\.5 at index \(0, 1\)"):
        built_layer()(np.array([[1.0, 2.5, 3.5]], "float32"))


def test_whole_float_ids_embed_like_integer_ids():
    layer = built_layer()
    expected = to_numpy(layer(np.array([[1, 2]])))
    np.testing.assert_array_equal(
        to_numpy(layer(np.array([[1.0, 2.0]], "float32"))), expected
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_dim": 0}, "`input_dim` must be a positive integer"),
        ({"output_dim": -3}, "`output_dim` must be a positive integer"),
        ({"tie_weights": "yes"}, "`tie_weights` must be True or False"),
        ({"reverse_dtype": "int32"}, "`reverse_dtype` must be a floating dtype"),
        ({"logit_soft_cap": 0}, "`logit_soft_cap` must be a positive finite number"),
        # tanh(z / inf) * inf is NaN: the layer refuses what the fused loss refuses.
        ({"logit_soft_cap": float("inf")}, "`logit_soft_cap` must be a positive finite number"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs, message):
    arguments = {"input_dim": VOCABULARY, "output_dim": WIDTH, **kwargs}
    with pytest.raises(ValueError, match=message):
        ReversibleEmbedding(**arguments)


def test_from_vectors_aligns_rows_to_the_vocabulary_and_reports_coverage():
    from keras_embed.vectors import Vectors
    from keras_embed.layers import SemiFrozenReversibleEmbedding

    matrix = np.arange(6, dtype="float32").reshape(3, 2)
    vectors = Vectors(["cat", "the", "sat"], matrix)
    layer, coverage = ReversibleEmbedding.from_vectors(
        vectors, vocabulary=["the", "mat", "cat"], missing="zeros"
    )
    assert type(layer) is ReversibleEmbedding
    np.testing.assert_array_equal(to_numpy(layer.embeddings), [matrix[1], [0, 0], matrix[0]])
    assert (coverage.found, coverage.missing) == (2, 1)
    semi_frozen, _ = ReversibleEmbedding.from_vectors(
        vectors, vocabulary=["the", "mat"], trainable="missing_only"
    )
    assert isinstance(semi_frozen, SemiFrozenReversibleEmbedding)
