import keras
import numpy as np
import pytest
from embed_testing import assert_config_round_trip
from embed_testing import assert_fit_step_changes_weights
from embed_testing import assert_saves_and_loads
from embed_testing import compiled
from embed_testing import jit_compile_supported
from embed_testing import to_numpy

from keras_embed.layers import MaskedLMHead
from keras_embed.layers import ReversibleEmbedding

VOCABULARY, HIDDEN, SEQUENCE = 13, 8, 6


def reference_logits(head, hidden, mask_positions):
    """BERT's MLM head in float64 numpy: gather, dense+relu, layer norm, project, bias."""
    gathered = np.take_along_axis(hidden, mask_positions[..., None], axis=1).astype("float64")
    dense = head._intermediate_dense
    x = np.maximum(gathered @ to_numpy(dense.kernel) + to_numpy(dense.bias), 0.0)
    norm = head._intermediate_layer_norm
    mean = x.mean(-1, keepdims=True)
    variance = x.var(-1, keepdims=True)
    x = (x - mean) / np.sqrt(variance + head.layer_norm_epsilon)
    x = x * to_numpy(norm.gamma) + to_numpy(norm.beta)
    if head.token_embedding is not None:
        kernel = to_numpy(head.token_embedding.embeddings).T
    else:
        kernel = to_numpy(head._kernel)
    return x @ kernel + to_numpy(head._bias)


def tied_head(**kwargs):
    embedding = ReversibleEmbedding(VOCABULARY, HIDDEN)
    embedding.build()
    head = MaskedLMHead(token_embedding=embedding, **kwargs)
    head.build((None, SEQUENCE, HIDDEN), (None, 3))
    return head


def untied_head(**kwargs):
    head = MaskedLMHead(vocabulary_size=VOCABULARY, **kwargs)
    head.build((None, SEQUENCE, HIDDEN), (None, 3))
    return head


def randomize(head, rng):
    """Non-trivial weights, so the reference is checked beyond zero biases."""
    for weight in head.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))


def pretraining_model(tie_weights=True):
    """(token_ids, mask_positions) -> logits, head tied to the input embedding."""
    token_ids = keras.Input((SEQUENCE,), dtype="int32")
    mask_positions = keras.Input((None,), dtype="int32")
    embedding = ReversibleEmbedding(VOCABULARY, HIDDEN, tie_weights=tie_weights)
    head = MaskedLMHead(token_embedding=embedding)
    logits = head(embedding(token_ids), mask_positions)
    return keras.Model([token_ids, mask_positions], logits)


@pytest.mark.parametrize("make_head", [tied_head, untied_head], ids=["tied", "untied"])
def test_logits_match_numpy_reference(make_head, rng):
    head = make_head()
    randomize(head, rng)
    hidden = rng.normal(size=(2, SEQUENCE, HIDDEN)).astype("float32")
    mask_positions = np.array([[0, 5, 2], [3, 3, 1]])
    expected = reference_logits(head, hidden, mask_positions)
    np.testing.assert_allclose(to_numpy(head(hidden, mask_positions)), expected, rtol=1e-4, atol=1e-4)


def test_tied_head_projects_with_the_embedding_table(rng):
    head = tied_head()
    hidden = rng.normal(size=(1, SEQUENCE, HIDDEN)).astype("float32")
    before = to_numpy(head(hidden, np.array([[1, 2, 3]])))
    head.token_embedding.embeddings.assign(2 * to_numpy(head.token_embedding.embeddings))
    after = to_numpy(head(hidden, np.array([[1, 2, 3]])))
    # Zero output bias: doubling the table doubles the logits.
    np.testing.assert_allclose(after, 2 * before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make_head", [tied_head, untied_head], ids=["tied", "untied"])
def test_six_trainable_weights(make_head):
    assert len(make_head().trainable_weights) == 6


def test_softmax_activation_returns_probabilities(rng):
    head = tied_head(activation="softmax")
    hidden = rng.normal(size=(2, SEQUENCE, HIDDEN)).astype("float32")
    probabilities = to_numpy(head(hidden, np.array([[0, 1, 2], [3, 4, 5]])))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


def test_build_from_functional_model_with_dynamic_mask_count(rng):
    model = pretraining_model()
    ids = rng.integers(0, VOCABULARY, size=(2, SEQUENCE))
    for masks in (1, 4):
        positions = rng.integers(0, SEQUENCE, size=(2, masks))
        assert model.predict([ids, positions], verbose=0).shape == (2, masks, VOCABULARY)


def test_compute_output_shape_mirrors_call():
    head = tied_head()
    assert head.compute_output_shape((2, SEQUENCE, HIDDEN), (2, 3)) == (2, 3, VOCABULARY)


@pytest.mark.parametrize("make_head", [tied_head, untied_head], ids=["tied", "untied"])
def test_config_round_trip(make_head):
    clone = assert_config_round_trip(make_head(activation="softmax", layer_norm_epsilon=1e-6))
    assert clone.vocabulary_size == VOCABULARY


@pytest.mark.parametrize("tie_weights", [True, False])
def test_saves_and_loads_with_shared_embedding(tie_weights, tmp_path, rng):
    model = pretraining_model(tie_weights)
    inputs = [rng.integers(0, VOCABULARY, size=(2, SEQUENCE)), np.array([[1, 2], [0, 5]])]
    reloaded = assert_saves_and_loads(model, inputs, tmp_path)
    [embedding] = [layer for layer in reloaded.layers if isinstance(layer, ReversibleEmbedding)]
    assert reloaded.layers[-1].token_embedding is embedding
    assert len(reloaded.trainable_weights) == len(model.trainable_weights)


def test_fit_step_trains_every_weight(rng):
    model = pretraining_model()
    ids = rng.integers(0, VOCABULARY, size=(8, SEQUENCE))
    positions = rng.integers(0, SEQUENCE, size=(8, 2))
    targets = np.take_along_axis(ids, positions, axis=1)
    assert_fit_step_changes_weights(
        model, [ids, positions], targets,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def test_fit_step_under_jit_compile(rng):
    if not jit_compile_supported():
        pytest.skip("jit_compile=True is XLA, available on JAX and TensorFlow only")
    model = pretraining_model()
    ids = rng.integers(0, VOCABULARY, size=(8, SEQUENCE))
    positions = rng.integers(0, SEQUENCE, size=(8, 2))
    assert_fit_step_changes_weights(
        model, [ids, positions], np.take_along_axis(ids, positions, axis=1), jit_compile=True,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def test_dtype_policies(dtype_policy, rng):
    head = tied_head()
    randomize(head, rng)
    hidden = rng.normal(size=(2, SEQUENCE, HIDDEN)).astype("float32")
    positions = np.array([[0, 1, 2], [3, 4, 5]])
    logits = head(keras.ops.cast(hidden, head.compute_dtype), positions)
    # Logits are float32 under every policy; weights stay float32.
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in head.weights)
    expected = reference_logits(head, hidden, positions)
    scale = np.abs(expected).max()
    tolerance = 3e-2 * scale if dtype_policy == "mixed_bfloat16" else 1e-4
    np.testing.assert_allclose(to_numpy(logits), expected, atol=tolerance)


def test_mask_positions_past_the_sequence_raise(rng):
    head = tied_head()
    hidden = rng.normal(size=(2, SEQUENCE, HIDDEN)).astype("float32")
    with pytest.raises(ValueError, match=rf"`mask_positions` holds {SEQUENCE} .*\[0, {SEQUENCE}\)"):
        head(hidden, np.array([[0, 1, SEQUENCE], [0, 1, 2]]))


def test_negative_mask_positions_raise(rng):
    hidden = rng.normal(size=(1, SEQUENCE, HIDDEN)).astype("float32")
    with pytest.raises(ValueError, match="holds -1"):
        tied_head()(hidden, np.array([[-1, 1, 2]]))


def test_mismatched_batch_sizes_raise(rng):
    hidden = rng.normal(size=(2, SEQUENCE, HIDDEN)).astype("float32")
    with pytest.raises(ValueError, match="same batch size"):
        tied_head()(hidden, np.array([[0, 1, 2]]))


def test_out_of_range_positions_gather_zero_vectors_inside_compiled_functions(rng):
    head = tied_head()
    randomize(head, rng)
    hidden = rng.normal(size=(1, SEQUENCE, HIDDEN)).astype("float32")
    positions = np.array([[1, SEQUENCE + 2, 2]], "int32")
    logits = to_numpy(compiled(lambda h, p: head(h, p))(
        keras.ops.convert_to_tensor(hidden), keras.ops.convert_to_tensor(positions)))
    zero_hidden = np.zeros((1, SEQUENCE, HIDDEN), "float32")
    expected_zero = reference_logits(head, zero_hidden, np.array([[0]]))[0, 0]
    np.testing.assert_allclose(logits[0, 1], expected_zero, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        logits[0, [0, 2]], reference_logits(head, hidden, np.array([[1, 2]]))[0], rtol=1e-4, atol=1e-4
    )


def test_fractional_mask_positions_raise(rng):
    hidden = rng.normal(size=(1, SEQUENCE, HIDDEN)).astype("float32")
    with pytest.raises(ValueError, match=r"`mask_positions` must hold integer ids.*0\.5"):
        tied_head()(hidden, np.array([[0.5, 1.0, 2.0]], "float32"))


def test_whole_float_mask_positions_gather_like_integers(rng):
    hidden = rng.normal(size=(1, SEQUENCE, HIDDEN)).astype("float32")
    head = tied_head()
    expected = to_numpy(head(hidden, np.array([[0, 1, 2]])))
    np.testing.assert_array_equal(
        to_numpy(head(hidden, np.array([[0.0, 1.0, 2.0]], "float32"))), expected
    )


def test_neither_vocabulary_size_nor_embedding_raises():
    with pytest.raises(ValueError, match="One of `vocabulary_size` or `token_embedding`"):
        MaskedLMHead()


def test_vocabulary_size_must_match_the_embedding():
    with pytest.raises(ValueError, match="vocabulary_size=7, token_embedding.input_dim=13"):
        MaskedLMHead(vocabulary_size=7, token_embedding=ReversibleEmbedding(VOCABULARY, HIDDEN))


def test_hidden_size_must_match_the_embedding():
    head = MaskedLMHead(token_embedding=ReversibleEmbedding(VOCABULARY, HIDDEN))
    with pytest.raises(ValueError, match="output_dim=8"):
        head.build((None, SEQUENCE, HIDDEN + 1))


@pytest.mark.parametrize("make_head", [tied_head, untied_head], ids=["tied", "untied"])
def test_projection_reads_float32_weights_under_mixed_bfloat16(make_head, rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    head = make_head()
    randomize(head, rng)
    hidden = rng.normal(size=(2, SEQUENCE, HIDDEN)).astype("float32")
    positions = np.array([[0, 1, 2], [3, 4, 5]])
    logits = to_numpy(head(keras.ops.cast(hidden, "bfloat16"), positions))
    # The transformed hidden states are bfloat16; the projection multiplies them by the
    # float32 kernel (or table) and adds the float32 bias, in float32.
    x = to_numpy(keras.ops.cast(head.hidden_at_positions(keras.ops.cast(hidden, "bfloat16"), positions), "float32"))
    if head.token_embedding is not None:
        kernel = to_numpy(head.token_embedding.embeddings).T
    else:
        kernel = to_numpy(head._kernel)
    bias = to_numpy(head._bias)
    expected = x.astype("float64") @ kernel + bias
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    # Rounding the kernel and bias to bfloat16 first would miss that tolerance.
    rounded = to_numpy(keras.ops.cast(keras.ops.cast(kernel, "bfloat16"), "float32"))
    rounded_bias = to_numpy(keras.ops.cast(keras.ops.cast(bias, "bfloat16"), "float32"))
    assert np.abs(x.astype("float64") @ rounded + rounded_bias - expected).max() > 1e-3
