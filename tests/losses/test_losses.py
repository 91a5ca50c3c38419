"""Loss values and gradients against numpy formulas; the alias sampler by its distribution."""

import keras
import numpy as np
import pytest

from embed_testing import assert_config_round_trip, backend, to_numpy
from keras_embed.losses import (
    AliasSampler,
    CLIPLoss,
    InBatchSoftmaxLoss,
    MatryoshkaLoss,
    clip_loss,
    in_batch_softmax_loss,
    info_nce_loss,
    negative_sampling_loss,
    sampled_softmax_loss,
)


def np_logsumexp(x):
    top = x.max(-1, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(-1, keepdims=True)))[..., 0]


def np_softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def np_unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def value_and_gradient(objective, x):
    """`(sum of objective(x), d sum / dx)` by the backend's autodiff."""
    if backend() == "jax":
        import jax

        value, grad = jax.value_and_grad(lambda t: objective(t).sum())(x)
    elif backend() == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        value = objective(tensor).sum()
        value.backward()
        grad = tensor.grad
    else:
        import tensorflow as tf

        tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = tf.reduce_sum(objective(tensor))
        grad = tape.gradient(value, tensor)
    return float(to_numpy(value)), to_numpy(grad)


def finite_difference(objective, x, step=1e-3):
    """Central differences of the float64 numpy `objective(x).sum()`."""
    x = x.astype("float64")
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (objective(up).sum() - objective(down).sum()) / (2 * step)
    return grad


@pytest.fixture
def problem(rng):
    return {
        "positive": rng.normal(size=(4,)).astype("float32"),
        "negatives": rng.normal(size=(4, 5)).astype("float32"),
        "log_q": np.log(rng.uniform(0.01, 0.5, size=(5,))).astype("float32"),
        "positive_log_q": np.log(rng.uniform(0.01, 0.5, size=(4,))).astype("float32"),
        "positive_ids": np.array([3, 7, 1, 9], "int32"),
        "negative_ids": np.array([7, 2, 3, 8, 1], "int32"),
    }


def np_sampled_softmax(positive, negatives, log_q, positive_log_q, positive_ids, negative_ids):
    negatives = negatives - log_q
    negatives = np.where(positive_ids[:, None] == negative_ids, -np.inf, negatives)
    logits = np.concatenate([(positive - positive_log_q)[:, None], negatives], axis=1)
    return np_logsumexp(logits) - logits[:, 0]


def test_sampled_softmax_subtracts_log_q_and_drops_accidental_hits(problem):
    p = problem
    ours = sampled_softmax_loss(
        p["positive"], p["negatives"], p["log_q"], p["positive_log_q"], p["positive_ids"], p["negative_ids"]
    )
    expected = np_sampled_softmax(**{k: p[k] for k in p}, )
    np.testing.assert_allclose(to_numpy(ours), expected, rtol=1e-5, atol=1e-6)


def test_sampled_softmax_without_ids_keeps_every_negative(problem):
    p = problem
    ours = sampled_softmax_loss(p["positive"], p["negatives"])
    logits = np.concatenate([p["positive"][:, None], p["negatives"]], axis=1)
    np.testing.assert_allclose(to_numpy(ours), np_logsumexp(logits) - logits[:, 0], rtol=1e-5, atol=1e-6)


def test_sampled_softmax_gradient_is_softmax_minus_one_hot(problem):
    # d loss / d negative logit j = softmax_j over the corrected logits; accidental hits get 0.
    p = problem
    _, grad = value_and_gradient(
        lambda negatives: sampled_softmax_loss(
            p["positive"], negatives, p["log_q"], p["positive_log_q"], p["positive_ids"], p["negative_ids"]
        ),
        p["negatives"],
    )
    corrected = np.where(p["positive_ids"][:, None] == p["negative_ids"], -np.inf, p["negatives"] - p["log_q"])
    logits = np.concatenate([(p["positive"] - p["positive_log_q"])[:, None], corrected], axis=1)
    softmax = np.exp(logits - np_logsumexp(logits)[:, None])
    np.testing.assert_allclose(grad, softmax[:, 1:], atol=1e-6)


def np_in_batch(queries, candidates, log_q, ids, temperature):
    logits = queries @ candidates.T / temperature - log_q[None, :]
    duplicate = (ids[:, None] == ids[None, :]) & ~np.eye(len(ids), dtype=bool)
    logits = np.where(duplicate, -np.inf, logits)
    return np_logsumexp(logits) - np.diag(logits)


def test_in_batch_softmax_matches_numpy_with_log_q_and_duplicates(rng):
    queries, candidates = rng.normal(size=(2, 6, 3)).astype("float32")
    log_q = np.log(rng.uniform(0.01, 0.3, size=6)).astype("float32")
    ids = np.array([0, 4, 2, 4, 5, 0], "int32")
    ours = in_batch_softmax_loss(queries, candidates, log_q, ids, temperature=0.5)
    np.testing.assert_allclose(to_numpy(ours), np_in_batch(queries, candidates, log_q, ids, 0.5), rtol=1e-5)


def test_in_batch_softmax_gradient_matches_finite_differences(rng):
    queries, candidates = rng.normal(size=(2, 5, 3)).astype("float32")
    log_q = np.log(rng.uniform(0.01, 0.3, size=5)).astype("float32")
    ids = np.array([0, 1, 2, 1, 3], "int32")
    _, grad = value_and_gradient(lambda q: in_batch_softmax_loss(q, candidates, log_q, ids, 0.5), queries)
    expected = finite_difference(lambda q: np_in_batch(q, candidates, log_q, ids, 0.5), queries)
    np.testing.assert_allclose(grad, expected, atol=2e-3)


def test_info_nce_is_in_batch_softmax_over_cosines(rng):
    anchors, positives = rng.normal(size=(2, 5, 4)).astype("float32")
    logits = np_unit(anchors) @ np_unit(positives).T / 0.1
    np.testing.assert_allclose(
        to_numpy(info_nce_loss(anchors, positives, 0.1)), np_logsumexp(logits) - np.diag(logits), rtol=1e-4
    )


def np_clip(images, texts, scale):
    logits = np_unit(images) @ np_unit(texts).T * scale
    return (np_logsumexp(logits) - np.diag(logits) + np_logsumexp(logits.T) - np.diag(logits)) / 2


def test_clip_loss_averages_both_directions(rng):
    images, texts = rng.normal(size=(2, 5, 4)).astype("float32")
    np.testing.assert_allclose(to_numpy(clip_loss(images, texts, 7.0)), np_clip(images, texts, 7.0), rtol=1e-4)


def test_clip_loss_gradient_matches_finite_differences(rng):
    images, texts = rng.normal(size=(2, 4, 3)).astype("float32")
    _, grad = value_and_gradient(lambda x: clip_loss(x, texts, 3.0), images)
    np.testing.assert_allclose(grad, finite_difference(lambda x: np_clip(x, texts, 3.0), images), atol=2e-3)


def test_clip_layer_starts_at_one_over_the_temperature_and_clamps_at_100(rng):
    images, texts = rng.normal(size=(2, 5, 4)).astype("float32")
    layer = CLIPLoss(initial_temperature=0.07)
    np.testing.assert_allclose(to_numpy(layer(images, texts)), np_clip(images, texts, 1 / 0.07), rtol=1e-4)
    layer.log_logit_scale.assign(np.log(1000.0))
    np.testing.assert_allclose(to_numpy(layer(images, texts)), np_clip(images, texts, 100.0), rtol=1e-4)


def test_clip_layer_learns_its_temperature(rng):
    images, texts = rng.normal(size=(2, 8, 4)).astype("float32")
    image_input, text_input = keras.Input((4,)), keras.Input((4,))
    losses = CLIPLoss()(image_input, text_input)
    model = keras.Model([image_input, text_input], losses)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=lambda y_true, y_pred: y_pred)
    before = float(to_numpy(model.layers[-1].log_logit_scale))
    model.fit([images, texts], np.zeros(8), epochs=1, verbose=0)
    assert float(to_numpy(model.layers[-1].log_logit_scale)) != before


def test_clip_layer_config_round_trip():
    assert_config_round_trip(CLIPLoss(initial_temperature=0.05, max_logit_scale=50.0))


def test_clip_statistics_stay_float32_under_mixed_bfloat16(rng, dtype_policy):
    images, texts = rng.normal(size=(2, 5, 4)).astype("float32")
    out = CLIPLoss()(images, texts)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_in_batch_loss_class_masks_duplicates_and_round_trips(rng):
    scores = rng.normal(size=(4, 4)).astype("float32")
    ids = np.array([1, 2, 1, 3], "int32")
    loss = InBatchSoftmaxLoss(temperature=0.5)
    logits = np.where((ids[:, None] == ids) & ~np.eye(4, dtype=bool), -np.inf, scores / 0.5)
    expected = np.mean(np_logsumexp(logits) - np.diag(logits))
    np.testing.assert_allclose(float(to_numpy(loss(ids, scores))), expected, rtol=1e-5)
    restored = InBatchSoftmaxLoss.from_config(loss.get_config())
    assert restored.temperature == 0.5


def test_matryoshka_sums_weighted_losses_of_prefixes(rng):
    anchors, positives = rng.normal(size=(2, 5, 8)).astype("float32")
    loss = MatryoshkaLoss(info_nce_loss, dims=(2, 8), weights=(0.5, 2.0))
    expected = 0.5 * to_numpy(info_nce_loss(anchors[:, :2], positives[:, :2])) + 2.0 * to_numpy(
        info_nce_loss(anchors, positives)
    )
    np.testing.assert_allclose(to_numpy(loss(anchors, positives)), expected, rtol=1e-5)


def test_matryoshka_refuses_dims_past_the_embedding(rng):
    with pytest.raises(ValueError, match="must not exceed the embedding size 4"):
        MatryoshkaLoss(info_nce_loss, dims=(2, 8))(np.ones((2, 4), "float32"), np.ones((2, 4), "float32"))


def test_matryoshka_refuses_unsorted_dims():
    with pytest.raises(ValueError, match="`dims` must be increasing"):
        MatryoshkaLoss(info_nce_loss, dims=(8, 2))


def np_negative_sampling(centers, contexts, negatives):
    positive = (centers * contexts).sum(-1)
    negative = np.einsum("bd,bkd->bk", centers, negatives)
    return np_softplus(-positive) + np_softplus(negative).sum(-1)


def test_negative_sampling_is_minus_log_sigmoid_of_positive_and_negatives(rng):
    centers, contexts = rng.normal(size=(2, 4, 3)).astype("float32")
    negatives = rng.normal(size=(4, 5, 3)).astype("float32")
    expected = -np.log(1 / (1 + np.exp(-(centers * contexts).sum(-1)))) - np.log(
        1 / (1 + np.exp(np.einsum("bd,bkd->bk", centers, negatives)))
    ).sum(-1)
    np.testing.assert_allclose(to_numpy(negative_sampling_loss(centers, contexts, negatives)), expected, rtol=1e-5)


def test_negative_sampling_gradient_matches_finite_differences(rng):
    centers, contexts = rng.normal(size=(2, 3, 3)).astype("float32")
    negatives = rng.normal(size=(3, 4, 3)).astype("float32")
    _, grad = value_and_gradient(lambda c: negative_sampling_loss(c, contexts, negatives), centers)
    expected = finite_difference(lambda c: np_negative_sampling(c, contexts, negatives), centers)
    np.testing.assert_allclose(grad, expected, atol=2e-3)


def test_alias_sampler_draws_unigram_to_the_three_quarters():
    counts = np.array([1000, 300, 50, 7, 0, 1])
    sampler = AliasSampler(counts, power=0.75)
    expected = np.where(counts > 0, counts, 0) ** 0.75
    expected = expected / expected.sum()
    np.testing.assert_allclose(sampler.probabilities, expected)
    draws = 200_000
    observed = np.bincount(sampler.sample(draws, seed=0), minlength=counts.size)
    assert observed[4] == 0  # A zero count is never drawn.
    present = expected > 0
    chi_square = (((observed - draws * expected)[present]) ** 2 / (draws * expected[present])).sum()
    # 4 degrees of freedom: chi2 > 18.5 has probability 0.001.
    assert chi_square < 18.5


def test_alias_sampler_refuses_all_zero_counts():
    with pytest.raises(ValueError, match="`counts` must be a non-empty 1-D array"):
        AliasSampler([0, 0])


def bfloat16_rounded(x):
    # Round to bfloat16 (8 significant bits) in numpy: the float32 reference sees the same inputs.
    bits = np.asarray(x, "float32").view("uint32")
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).view("float32")


FUNCTION_LOSSES = {
    "sampled_softmax": lambda a, b, c: sampled_softmax_loss(a[:, 0], b),
    "in_batch_softmax": lambda a, b, c: in_batch_softmax_loss(a, b),
    "info_nce": lambda a, b, c: info_nce_loss(a, b),
    "clip": lambda a, b, c: clip_loss(a, b, 10.0),
    "negative_sampling": lambda a, b, c: negative_sampling_loss(a, b, c),
}


@pytest.mark.parametrize("name", list(FUNCTION_LOSSES))
def test_function_losses_of_bfloat16_inputs_are_float32_statistics(rng, name):
    first, second = bfloat16_rounded(rng.normal(size=(2, 6, 8)))
    negatives = bfloat16_rounded(rng.normal(size=(6, 3, 8)))
    loss = FUNCTION_LOSSES[name]
    low = loss(*(keras.ops.cast(x, "bfloat16") for x in (first, second, negatives)))
    assert keras.backend.standardize_dtype(low.dtype) == "float32"
    # Exactly representable inputs: only float32 arithmetic separates the two results.
    np.testing.assert_allclose(to_numpy(low), to_numpy(loss(first, second, negatives)), rtol=1e-5, atol=1e-6)
