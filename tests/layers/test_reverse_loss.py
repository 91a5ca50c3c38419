"""The fused vocabulary loss behind `ReversibleEmbedding.reverse_loss` and `MaskedLMHead.compute_loss`."""

import keras
import numpy as np
import pytest
from embed_testing import to_numpy
from keras import ops

from keras_embed.layers import MaskedLMHead
from keras_embed.layers import ReversibleEmbedding

VOCABULARY, HIDDEN, BATCH, SEQUENCE, MASKS = 13, 8, 4, 6, 3


def softmax_cross_entropy(logits, labels, weights=None):
    """Weighted mean of `-log softmax(logits)[label]` in float64, weights summing the denominator."""
    logits = np.asarray(logits, "float64").reshape(-1, VOCABULARY)
    top = logits.max(-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    losses = -log_probs[np.arange(len(logits)), np.asarray(labels).reshape(-1)]
    weights = np.ones_like(losses) if weights is None else np.asarray(weights, "float64").reshape(-1)
    return (weights * losses).sum() / weights.sum()


def randomize(layer, rng, scale=0.5):
    for weight in layer.weights:
        weight.assign(rng.normal(scale=scale, size=weight.shape).astype("float32"))


@pytest.mark.parametrize("tie_weights", [True, False])
@pytest.mark.parametrize("logit_soft_cap", [None, 1.5])
def test_reverse_loss_equals_cross_entropy_of_reverse_logits(rng, dtype_policy, tie_weights, logit_soft_cap):
    layer = ReversibleEmbedding(VOCABULARY, HIDDEN, tie_weights=tie_weights, logit_soft_cap=logit_soft_cap)
    layer.build()
    randomize(layer, rng)
    hidden = rng.normal(size=(BATCH, SEQUENCE, HIDDEN)).astype("float32")
    labels = rng.integers(0, VOCABULARY, size=(BATCH, SEQUENCE))
    loss = layer.reverse_loss(hidden, labels, chunk_size=5)
    # The layer's own reverse projection gives the logits of the naive loss.
    expected = softmax_cross_entropy(to_numpy(layer(hidden, reverse=True)), labels)
    tolerance = 1e-5 if dtype_policy == "float32" else 2e-2
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=tolerance)


def test_reverse_loss_rejects_options_the_layer_owns(rng):
    layer = ReversibleEmbedding(VOCABULARY, HIDDEN)
    hidden = rng.normal(size=(2, HIDDEN)).astype("float32")
    with pytest.raises(ValueError, match=r"takes \['logit_soft_cap'\] from the layer"):
        layer.reverse_loss(hidden, np.array([1, 2]), logit_soft_cap=3.0)


def masked_lm_problem(rng):
    encoded = rng.normal(size=(BATCH, SEQUENCE, HIDDEN)).astype("float32")
    mask_positions = np.stack([rng.permutation(SEQUENCE)[:MASKS] for _ in range(BATCH)])
    mask_ids = rng.integers(0, VOCABULARY, size=(BATCH, MASKS))
    mask_weights = np.ones((BATCH, MASKS), "float32")
    mask_weights[0, 2] = mask_weights[3, 1] = 0.0  # padding masks
    return encoded, mask_positions, mask_ids, mask_weights


def make_head(tied, **kwargs):
    if tied:
        embedding = ReversibleEmbedding(VOCABULARY, HIDDEN)
        head = MaskedLMHead(token_embedding=embedding, **kwargs)
    else:
        head = MaskedLMHead(vocabulary_size=VOCABULARY, **kwargs)
    head.build((None, SEQUENCE, HIDDEN), (None, MASKS))
    return head


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_masked_lm_loss_equals_weighted_cross_entropy_of_head_logits(rng, dtype_policy, tied):
    head = make_head(tied)
    randomize(head, rng)
    encoded, mask_positions, mask_ids, mask_weights = masked_lm_problem(rng)
    loss = head.compute_loss(encoded, mask_positions, mask_ids, mask_weights, chunk_size=4)
    # The head's call (tested against numpy elsewhere) gives the logits of the naive loss.
    expected = softmax_cross_entropy(to_numpy(head(encoded, mask_positions)), mask_ids, mask_weights)
    tolerance = 1e-5 if dtype_policy == "float32" else 2e-2
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=tolerance)


def test_masked_lm_loss_accepts_a_softmax_head(rng):
    head = make_head(True, activation="softmax")
    encoded, mask_positions, mask_ids, mask_weights = masked_lm_problem(rng)
    # Softmax heads return probabilities; the loss still starts from their logits.
    probabilities = to_numpy(head(encoded, mask_positions)).reshape(-1, VOCABULARY)
    picked = probabilities[np.arange(BATCH * MASKS), mask_ids.reshape(-1)]
    weights = mask_weights.reshape(-1)
    expected = -(weights * np.log(picked)).sum() / weights.sum()
    loss = head.compute_loss(encoded, mask_positions, mask_ids, mask_weights)
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-5)


def test_masked_lm_loss_rejects_an_activation_other_than_softmax(rng):
    head = make_head(True, activation="sigmoid")
    encoded, mask_positions, mask_ids, _ = masked_lm_problem(rng)
    with pytest.raises(ValueError, match="`activation` must be None or 'softmax'"):
        head.compute_loss(encoded, mask_positions, mask_ids)


def test_masked_lm_loss_rejects_a_soft_capped_tied_embedding(rng):
    embedding = ReversibleEmbedding(VOCABULARY, HIDDEN, logit_soft_cap=5.0)
    head = MaskedLMHead(token_embedding=embedding)
    encoded, mask_positions, mask_ids, _ = masked_lm_problem(rng)
    with pytest.raises(ValueError, match="does not support a `token_embedding` with a `logit_soft_cap`"):
        head.compute_loss(encoded, mask_positions, mask_ids)


# --- Training with model.fit: the documented pattern against a naive twin.


class LanguageModel(keras.Model):
    """Embedding -> dense; the fused twin returns hidden states, the naive one logits."""

    def __init__(self, fused, tie_weights=True, **kwargs):
        super().__init__(**kwargs)
        self.fused = fused
        self.embedding = ReversibleEmbedding(VOCABULARY, HIDDEN, tie_weights=tie_weights)
        self.dense = keras.layers.Dense(HIDDEN, activation="tanh")

    def call(self, token_ids):
        hidden = self.dense(self.embedding(token_ids))
        return hidden if self.fused else self.embedding(hidden, reverse=True)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self.fused:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        return self.embedding.reverse_loss(y_pred, y, sample_weight=sample_weight, chunk_size=5)


class MaskedLanguageModel(keras.Model):
    """Embedding -> dense encoder -> MaskedLMHead, fused or naive loss."""

    def __init__(self, fused, tied=True, **kwargs):
        super().__init__(**kwargs)
        self.fused = fused
        self.embedding = ReversibleEmbedding(VOCABULARY, HIDDEN)
        self.encoder = keras.layers.Dense(HIDDEN, activation="tanh")
        if tied:
            self.head = MaskedLMHead(token_embedding=self.embedding)
        else:
            self.head = MaskedLMHead(vocabulary_size=VOCABULARY)
        # The fused twin never calls the head, so its weights are made here.
        self.head.build((None, SEQUENCE, HIDDEN), (None, MASKS))

    def call(self, inputs):
        token_ids, mask_positions = inputs
        encoded = self.encoder(self.embedding(token_ids))
        return encoded if self.fused else self.head(encoded, mask_positions)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.fused:
            return self.head.compute_loss(y_pred, x[1], y, sample_weight, chunk_size=4)
        losses = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        return ops.sum(losses * sample_weight) / ops.sum(sample_weight)


def fit_twins(make_model, x, y, sample_weight=None, naive_loss=None):
    """Fit the fused and naive twins from the same weights: per-step losses and weight updates."""
    results = []
    for fused in (True, False):
        model = make_model(fused)
        model(x)
        if fused:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        # A small step, so that two steps on one batch must lower the loss.
        model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=None if fused else naive_loss)
        # One batch per epoch: history holds the loss of each of the 2 steps.
        history = model.fit(x, y, sample_weight=sample_weight, epochs=2, batch_size=BATCH, verbose=0)
        updates = [to_numpy(w) - w0 for w, w0 in zip(model.get_weights(), initial)]
        results.append((history.history["loss"], updates))
    return results


def assert_same_updates(fused_updates, naive_updates):
    # The updates are -lr x (sum of two gradients): equal updates, equal gradients.
    for fused_update, naive_update in zip(fused_updates, naive_updates):
        assert np.abs(naive_update).max() > 0.0
        np.testing.assert_allclose(fused_update, naive_update, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("tie_weights", [True, False], ids=["tied", "untied"])
def test_fit_with_reverse_loss_follows_the_naive_loss(rng, tie_weights):
    token_ids = rng.integers(0, VOCABULARY, size=(BATCH, SEQUENCE + 1))
    x, y = token_ids[:, :-1], token_ids[:, 1:]
    naive = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    (fused_losses, fused_updates), (naive_losses, naive_updates) = fit_twins(
        lambda fused: LanguageModel(fused, tie_weights), x, y, naive_loss=naive
    )
    np.testing.assert_allclose(fused_losses[0], naive_losses[0], rtol=1e-5)
    assert fused_losses[1] < fused_losses[0]
    assert_same_updates(fused_updates, naive_updates)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_fit_with_masked_lm_loss_follows_the_naive_loss(rng, tied):
    token_ids = rng.integers(0, VOCABULARY, size=(BATCH, SEQUENCE))
    _, mask_positions, mask_ids, mask_weights = masked_lm_problem(rng)
    x = (token_ids, mask_positions)
    (fused_losses, fused_updates), (naive_losses, naive_updates) = fit_twins(
        lambda fused: MaskedLanguageModel(fused, tied), x, mask_ids, sample_weight=mask_weights
    )
    np.testing.assert_allclose(fused_losses[0], naive_losses[0], rtol=1e-5)
    assert fused_losses[1] < fused_losses[0]
    assert_same_updates(fused_updates, naive_updates)
