"""KnowledgeGraphEmbedding, its losses, sampler, triples reader and link-prediction evaluator.

References are numpy formulas from the papers: TransE `-||h + r - t||`, DistMult
`sum(h r t)`, ComplEx `Re(sum(h r conj(t)))` and RotatE `-sum |h e^{i theta} - t|`
computed with numpy complex numbers; ranks are counted candidate by candidate.
"""

import os

import keras
import numpy as np
import pytest

from embed_testing import assert_config_round_trip
from embed_testing import backend
from embed_testing import to_numpy
from keras_embed.models import KGMarginRankingLoss
from keras_embed.models import KGSelfAdversarialLoss
from keras_embed.models import KGSoftplusLoss
from keras_embed.models import KnowledgeGraphEmbedding
from keras_embed.models import Triples
from keras_embed.models import evaluate_link_prediction
from keras_embed.models import load_triples
from keras_embed.ops.kg_losses import kg_self_adversarial_loss
from keras_embed.ops.kg_sampling import bernoulli_head_probabilities
from keras_embed.ops.kg_sampling import corrupt_triples

INTERACTIONS = ("transe", "distmult", "complex", "rotate")


def as_complex(vectors):
    real, imaginary = np.split(vectors.astype(np.float64), 2, axis=-1)
    return real + 1j * imaginary


def numpy_score(interaction, h, r, t, p_norm=1):
    """The papers' scores in float64 numpy; complex models' vectors are `[real | imaginary]`."""
    if interaction == "transe":
        return -np.linalg.norm(h + r - t, ord=p_norm, axis=-1)
    if interaction == "distmult":
        return np.sum(h * r * t, axis=-1)
    if interaction == "complex":
        return np.real(np.sum(as_complex(h) * as_complex(r) * np.conj(as_complex(t)), axis=-1))
    moduli = np.abs(as_complex(h) * np.exp(1j * r.astype(np.float64)) - as_complex(t))
    return -np.linalg.norm(moduli, ord=p_norm, axis=-1)


def random_graph(rng, num_entities=12, num_relations=3, count=60):
    triples = np.stack(
        [rng.integers(0, num_entities, count), rng.integers(0, num_relations, count),
         rng.integers(0, num_entities, count)], axis=1,
    )
    return np.unique(triples, axis=0).astype(np.int32)


def tables(model):
    return to_numpy(model.entity_embeddings), to_numpy(model.relation_embeddings)


def value_and_grads(function, *arrays):
    """`function(*arrays)` (a scalar) and its gradients with respect to every array."""
    if backend() == "jax":
        import jax

        value, grads = jax.value_and_grad(function, argnums=tuple(range(len(arrays))))(*arrays)
    elif backend() == "torch":
        import torch

        tensors = [torch.tensor(array, requires_grad=True) for array in arrays]
        value = function(*tensors)
        value.backward()
        grads = [tensor.grad for tensor in tensors]
    else:
        import tensorflow as tf

        tensors = [tf.constant(array) for array in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = function(*tensors)
        grads = tape.gradient(value, tensors)
    return to_numpy(value), [to_numpy(grad) for grad in grads]


# --- scores -------------------------------------------------------------------------------


def assert_scores_follow_formula(model, interaction, p_norm, rng):
    triples = random_graph(rng)
    entities, relations = tables(model)
    expected = numpy_score(
        interaction, entities[triples[:, 0]], relations[triples[:, 1]], entities[triples[:, 2]],
        p_norm,
    )
    np.testing.assert_allclose(to_numpy(model(triples)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("p_norm", [1, 2])
@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_scores_equal_the_papers_formulas(interaction, p_norm, rng):
    model = KnowledgeGraphEmbedding(12, 3, 5, interaction=interaction, p_norm=p_norm)
    assert_scores_follow_formula(model, interaction, p_norm, rng)


@pytest.mark.parametrize("interaction, p_norm", [("transe", 1), ("rotate", 2)])
def test_default_distance_norm_is_l1_for_transe_and_l2_for_rotate(interaction, p_norm, rng):
    model = KnowledgeGraphEmbedding(12, 3, 5, interaction=interaction)
    assert_scores_follow_formula(model, interaction, p_norm, rng)


@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_training_scores_of_negatives_follow_the_formula_with_one_relation_row_per_triple(
    interaction, rng
):
    # The training step broadcasts each true triple's relation row over its negatives.
    model = KnowledgeGraphEmbedding(12, 3, 5, interaction=interaction, num_negatives=6, seed=1)
    triples = random_graph(rng)
    negatives, scores = model._negative_scores(triples)
    negatives = to_numpy(negatives)
    np.testing.assert_array_equal(negatives[..., 1], np.repeat(triples[:, 1:2], 6, axis=1))
    entities, relations = tables(model)
    expected = numpy_score(
        interaction, entities[negatives[..., 0]], relations[negatives[..., 1]],
        entities[negatives[..., 2]], model.p_norm,
    )
    assert to_numpy(scores).shape == (len(triples), 6)
    np.testing.assert_allclose(to_numpy(scores), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_scores_of_every_candidate_tail_and_head_equal_scores_of_the_triples(interaction):
    model = KnowledgeGraphEmbedding(7, 2, 4, interaction=interaction)
    heads, relations = np.array([0, 3, 6]), np.array([1, 0, 1])
    entities = np.arange(7)
    tail_triples = np.stack(np.broadcast_arrays(heads[:, None], relations[:, None], entities), -1)
    head_triples = np.stack(np.broadcast_arrays(entities, relations[:, None], heads[:, None]), -1)
    np.testing.assert_allclose(
        to_numpy(model.score_tails(heads, relations)), to_numpy(model(tail_triples)), atol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(model.score_heads(relations, heads)), to_numpy(model(head_triples)), atol=1e-5
    )


def test_rotate_relations_are_rotations_that_keep_the_modulus():
    # A head rotated onto its tail scores 0: |h e^{i theta}| = |h| for any phase.
    model = KnowledgeGraphEmbedding(2, 1, 3, interaction="rotate")
    head = np.array([1.0, 0.0, 2.0, 0.0, 1.0, 0.0], "float32")  # 1, i, 2
    phases = np.array([0.5, -1.0, 3.0], "float32")
    tail = as_complex(head) * np.exp(1j * phases)
    model.entity_embeddings.assign(np.stack([head, np.concatenate([tail.real, tail.imag])]))
    model.relation_embeddings.assign(phases[None])
    np.testing.assert_allclose(to_numpy(model(np.array([[0, 0, 1]]))), [0.0], atol=1e-6)


@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_scores_are_float32_and_close_to_float32_scores_under_each_policy(
    interaction, dtype_policy, rng
):
    model = KnowledgeGraphEmbedding(12, 3, 8, interaction=interaction)
    triples = random_graph(rng)
    entities, relations = tables(model)
    scores = model(triples)
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"
    expected = numpy_score(
        interaction, entities[triples[:, 0]], relations[triples[:, 1]], entities[triples[:, 2]],
        model.p_norm,
    )
    tolerance = 1e-5 if dtype_policy == "float32" else 0.05
    np.testing.assert_allclose(to_numpy(scores), expected, rtol=tolerance, atol=tolerance)


def test_rotate_phases_stay_float32_under_mixed_precision(dtype_policy):
    model = KnowledgeGraphEmbedding(3, 2, 4, interaction="rotate")
    assert model.relation_embeddings.dtype == "float32"
    assert not model.relation_embeddings._autocast


@pytest.mark.parametrize("p_norm", [1, 2])
@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_score_gradients_are_finite_even_at_zero_distance(interaction, p_norm):
    model = KnowledgeGraphEmbedding(3, 1, 4, interaction=interaction, p_norm=p_norm)
    score = model._interaction.score
    width = model._interaction.entity_width * 4
    # Head, relation and tail chosen so that the distance models' error is exactly zero.
    h = np.zeros((2, width), "float32")
    r = np.zeros((2, model._interaction.relation_width * 4), "float32")
    t = np.zeros((2, width), "float32")
    value, grads = value_and_grads(
        lambda a, b, c: keras.ops.sum(score(a, b, c, p_norm=p_norm)), h, r, t
    )
    assert np.isfinite(value)
    for grad in grads:
        assert np.all(np.isfinite(grad))


# --- losses -------------------------------------------------------------------------------


def test_margin_ranking_loss_is_the_mean_hinge_over_pairs():
    scores = np.array([[2.0, 0.5, 1.5, 3.0], [0.0, -2.0, 0.2, -0.5]], "float32")
    hinges = np.maximum(0.0, 1.0 - scores[:, :1] + scores[:, 1:])
    assert float(KGMarginRankingLoss(1.0)(None, scores)) == pytest.approx(hinges.mean(), 1e-6)


def test_softplus_loss_averages_over_true_and_false_triples():
    scores = np.array([[2.0, 0.5, 1.5], [0.0, -2.0, 0.2]], "float32")
    terms = np.concatenate([np.log1p(np.exp(-scores[:, :1])), np.log1p(np.exp(scores[:, 1:]))], 1)
    assert float(KGSoftplusLoss()(None, scores)) == pytest.approx(terms.mean(), 1e-6)


def numpy_self_adversarial(positive, negative, margin, temperature):
    log_sigmoid = lambda x: -np.log1p(np.exp(-x))  # noqa: E731
    weights = np.exp(temperature * negative)
    weights /= weights.sum(axis=1, keepdims=True)
    negative_term = -(weights * log_sigmoid(-negative - margin)).sum(axis=1)
    return (-log_sigmoid(margin + positive) + negative_term) / 2


def test_self_adversarial_loss_matches_sun_et_al():
    scores = np.array([[-2.0, -5.0, -1.0, -9.0], [-0.5, -3.0, -0.2, -4.0]], "float32")
    expected = numpy_self_adversarial(scores[:, 0], scores[:, 1:], 6.0, 0.5).mean()
    loss = KGSelfAdversarialLoss(margin=6.0, temperature=0.5)
    assert float(loss(None, scores)) == pytest.approx(expected, 1e-6)


def test_self_adversarial_weights_get_no_gradient():
    # With constant weights p, d/ds_i of -p_i log sigmoid(-s_i - m) / 2 is p_i sigmoid(s_i + m) / 2.
    positive = np.array([-1.0], "float32")
    negative = np.array([[-2.0, -0.5, -3.0]], "float32")
    _, (_, grad) = value_and_grads(
        lambda p, n: keras.ops.sum(kg_self_adversarial_loss(p, n, 1.0, 1.0)), positive, negative
    )
    weights = np.exp(negative) / np.exp(negative).sum()
    expected = weights * (1 / (1 + np.exp(-(negative + 1.0)))) / 2
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


@pytest.mark.parametrize("interaction", ["distmult", "rotate"])
def test_relation_regularization_adds_weight_times_mean_square_of_batch_relations(
    interaction, rng
):
    triples = random_graph(rng)
    plain, regularized = (
        KnowledgeGraphEmbedding(12, 3, 4, interaction=interaction, seed=2,
                                relation_regularization=weight)
        for weight in (0.0, 0.3)
    )
    regularized.set_weights(plain.get_weights())
    losses = []
    for model in (plain, regularized):
        model.compile(loss=KGSoftplusLoss())
        losses.append(float(to_numpy(model.compute_loss(x=triples, y_pred=model(triples)))))
    relations = tables(plain)[1].astype(np.float64)
    # 0.3 * the mean over the batch's triples of ||r||^2 / width (same seed: same negatives).
    expected = 0.3 * np.mean(np.sum(relations[triples[:, 1]] ** 2, axis=1)) / relations.shape[1]
    np.testing.assert_allclose(losses[1] - losses[0], expected, rtol=1e-4)


# --- negative sampling ---------------------------------------------------------------------


def test_bernoulli_probabilities_are_tph_over_tph_plus_hpt():
    triples = np.array([
        [0, 0, 1], [0, 0, 2], [0, 0, 3],  # one head, three tails: tph 3, hpt 1 -> 3/4
        [0, 1, 4], [1, 1, 4], [2, 1, 4], [3, 1, 5],  # tph 4/4 = 1, hpt 4/2 = 2 -> 1/3
        [0, 0, 1],  # a repeated triple counts once
    ])
    np.testing.assert_allclose(
        bernoulli_head_probabilities(triples, 3), [0.75, 1 / 3, 0.5], rtol=1e-6
    )


def test_corruption_replaces_one_side_by_another_entity():
    triples = np.array([[0, 0, 1], [2, 1, 3]] * 200, "int32")
    negatives = to_numpy(corrupt_triples(
        triples, 5, 4, np.array([0.5, 0.5], "float32"), keras.random.SeedGenerator(3)
    ))
    assert negatives.shape == (400, 5, 3)
    positives = np.broadcast_to(triples[:, None], negatives.shape)
    np.testing.assert_array_equal(negatives[..., 1], positives[..., 1])
    changed = negatives != positives
    assert np.all(changed[..., 0] ^ changed[..., 2])
    # The other three entities come up about equally (400 * 5 draws, a third each).
    heads_swapped = negatives[..., 0][changed[..., 0]]
    counts = np.bincount(heads_swapped[triples[:, :1].repeat(5, 1)[changed[..., 0]] == 0], minlength=4)
    assert counts[0] == 0 and np.all(counts[1:] > 0.25 * counts.sum())


def test_bernoulli_corruption_replaces_heads_at_the_relations_rate():
    triples = np.array([[0, 0, 1], [2, 1, 3]] * 1000, "int32")
    negatives = to_numpy(corrupt_triples(
        triples, 4, 6, np.array([0.9, 0.2], "float32"), keras.random.SeedGenerator(5)
    ))
    head_changed = negatives[..., 0] != triples[:, None, 0]
    assert head_changed[triples[:, 1] == 0].mean() == pytest.approx(0.9, abs=0.02)
    assert head_changed[triples[:, 1] == 1].mean() == pytest.approx(0.2, abs=0.02)


def test_adapt_sets_bernoulli_probabilities_only_for_bernoulli_corruption():
    triples = np.array([[0, 0, 1], [0, 0, 2], [0, 0, 3]])
    bernoulli = KnowledgeGraphEmbedding(4, 2, 3, corruption="bernoulli")
    bernoulli.adapt(triples)
    np.testing.assert_allclose(to_numpy(bernoulli.head_corruption_probabilities), [0.75, 0.5])
    uniform = KnowledgeGraphEmbedding(4, 2, 3)
    uniform.adapt(triples)
    np.testing.assert_allclose(to_numpy(uniform.head_corruption_probabilities), [0.5, 0.5])


# --- the evaluator -------------------------------------------------------------------------


def numpy_ranks(score, test, known, num_entities):
    """Filtered realistic ranks of each test triple's tail then head, one candidate at a time."""
    tail_ranks, head_ranks = [], []
    for h, r, t in test:
        for side, target, make in (
            (tail_ranks, t, lambda e: (h, r, e)), (head_ranks, h, lambda e: (e, r, t))
        ):
            true = score(*make(target))
            higher = equal = 0
            for candidate in range(num_entities):
                if candidate != target and make(candidate) in known:
                    continue
                value = score(*make(candidate))
                higher += value > true
                equal += value == true
            side.append(((higher + 1) + (higher + equal)) / 2)
    return np.array(head_ranks), np.array(tail_ranks)


def test_evaluator_ranks_equal_a_numpy_count_with_ties_and_filtering(rng):
    num_entities = 9
    model = KnowledgeGraphEmbedding(num_entities, 2, 3, interaction="distmult")
    # Small integer vectors make exact integer scores with many ties.
    entities = rng.integers(-1, 2, (num_entities, 3)).astype("float32")
    relations = rng.integers(-1, 2, (2, 3)).astype("float32")
    model.entity_embeddings.assign(entities)
    model.relation_embeddings.assign(relations)
    graph = random_graph(rng, num_entities, 2, 40)
    test, train = graph[:15], graph[15:]
    metrics = evaluate_link_prediction(
        model, test, filter_triples=[train, test], batch_size=4, return_ranks=True
    )
    score = lambda h, r, t: float(np.sum(entities[h] * relations[r] * entities[t]))  # noqa: E731
    known = {tuple(int(x) for x in row) for row in graph}
    heads, tails = numpy_ranks(score, test, known, num_entities)
    assert np.any(heads != np.round(heads)) or np.any(tails != np.round(tails))  # ties occurred
    np.testing.assert_array_equal(metrics["head_ranks"], heads)
    np.testing.assert_array_equal(metrics["tail_ranks"], tails)
    ranks = np.concatenate([heads, tails])
    assert metrics["mrr"] == pytest.approx(np.mean(1 / ranks), rel=1e-12)
    assert metrics["hits@3"] == pytest.approx(np.mean(ranks <= 3), rel=1e-12)


def test_evaluator_without_filter_counts_every_true_triple(rng):
    model = KnowledgeGraphEmbedding(9, 2, 3, interaction="distmult")
    entities, relations = tables(model)
    graph = random_graph(rng, 9, 2, 30)
    metrics = evaluate_link_prediction(model, graph[:6], return_ranks=True)
    score = lambda h, r, t: float(  # noqa: E731
        np.sum((entities[h] * relations[r] * entities[t]).astype(np.float32))
    )
    heads, tails = numpy_ranks(score, graph[:6], set(), 9)
    np.testing.assert_allclose(metrics["head_ranks"], heads)
    np.testing.assert_allclose(metrics["tail_ranks"], tails)


# --- the model in Keras -------------------------------------------------------------------


@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_config_round_trip(interaction):
    model = KnowledgeGraphEmbedding(
        5, 2, 3, interaction=interaction, p_norm=2, num_negatives=3, corruption="bernoulli",
        entity_constraint=keras.constraints.UnitNorm(axis=1), relation_regularization=0.05,
        seed=4,
    )
    clone = assert_config_round_trip(model)
    assert clone.relation_regularization == 0.05
    assert clone.entity_embeddings.shape == model.entity_embeddings.shape


@pytest.mark.parametrize("interaction", ["transe", "rotate"])  # real and phase tables
def test_saves_and_loads_as_keras_file_with_its_loss(interaction, tmp_path, rng):
    triples = random_graph(rng)
    model = KnowledgeGraphEmbedding(12, 3, 4, interaction=interaction, corruption="bernoulli",
                                    relation_regularization=0.1)
    model.compile(optimizer="adam", loss=KGSelfAdversarialLoss(margin=2.0, temperature=0.5))
    model.fit(triples, epochs=1, batch_size=32, verbose=0)
    path = os.path.join(tmp_path, "kg.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(reloaded(triples)), to_numpy(model(triples)), atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(reloaded.head_corruption_probabilities),
        bernoulli_head_probabilities(triples, 3),
    )
    assert reloaded.loss.get_config() == model.loss.get_config()
    assert reloaded.relation_regularization == 0.1
    reloaded.fit(triples, epochs=1, batch_size=32, verbose=0)  # adapted: trains on


@pytest.mark.parametrize(
    "interaction, loss",
    [("transe", KGMarginRankingLoss), ("distmult", KGSoftplusLoss),
     ("complex", KGSoftplusLoss), ("rotate", lambda: KGSelfAdversarialLoss(margin=3.0))],
)
def test_fit_reduces_the_loss_on_a_tiny_graph(interaction, loss, dtype_policy):
    # Two relations that each map entity i to i + 1 (mod 6), and back.
    entities = np.arange(6)
    triples = np.concatenate([
        np.stack([entities, np.zeros(6, int), (entities + 1) % 6], 1),
        np.stack([(entities + 1) % 6, np.ones(6, int), entities], 1),
    ]).astype("int32")
    model = KnowledgeGraphEmbedding(6, 2, 8, interaction=interaction, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss())
    history = model.fit(triples, epochs=30, batch_size=12, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_unit_norm_constraint_keeps_entities_on_the_sphere():
    model = KnowledgeGraphEmbedding(
        6, 1, 4, entity_constraint=keras.constraints.UnitNorm(axis=1), seed=0
    )
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=KGMarginRankingLoss())
    model.fit(np.array([[0, 0, 1], [2, 0, 3]]), epochs=2, verbose=0)
    np.testing.assert_allclose(np.linalg.norm(tables(model)[0], axis=1), 1.0, rtol=1e-5)


def test_fit_without_a_loss_is_refused():
    model = KnowledgeGraphEmbedding(4, 1, 2)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="loss"):
        model.fit(np.array([[0, 0, 1]]), verbose=0)


# --- triples files -------------------------------------------------------------------------


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_load_triples_numbers_sorted_labels_and_applies_them_to_test(tmp_path):
    train = load_triples(write(tmp_path, "train.txt", "b\tlikes\ta\nc\thates\tb\n\n"))
    assert train.entity_to_id == {"a": 0, "b": 1, "c": 2}
    assert train.relation_to_id == {"hates": 0, "likes": 1}
    np.testing.assert_array_equal(train.ids, [[1, 1, 0], [2, 0, 1]])
    test = load_triples(
        write(tmp_path, "test.txt", "a\thates\tc\n"), train.entity_to_id, train.relation_to_id
    )
    np.testing.assert_array_equal(test.ids, [[0, 0, 2]])
    assert test.entity_labels == ["a", "b", "c"]


@pytest.mark.parametrize(
    "text, message",
    [("x\tlikes\tzed\n", r"line 1: unknown entity 'zed'"),
     ("a\tlikes\tb\na\tloves\tb\n", r"line 2: unknown relation 'loves'")],
)
def test_unknown_labels_at_test_time_name_the_label_and_line(tmp_path, text, message):
    train = load_triples(write(tmp_path, "train.txt", "x\tlikes\ty\na\tlikes\tb\n"))
    with pytest.raises(ValueError, match=message):
        load_triples(write(tmp_path, "test.txt", text), train.entity_to_id, train.relation_to_id)


def test_malformed_line_names_its_number(tmp_path):
    with pytest.raises(ValueError, match=r"line 3: expected 3 non-empty tab-separated fields"):
        load_triples(write(tmp_path, "train.txt", "a\tr\tb\n\na r b\n"))


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no triples"):
        load_triples(write(tmp_path, "train.txt", "\n\n"))


def test_label_maps_come_in_pairs(tmp_path):
    with pytest.raises(ValueError, match="must be given together"):
        load_triples(write(tmp_path, "t.txt", "a\tr\tb\n"), entity_to_id={"a": 0, "b": 1})


# --- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [({"num_entities": 1}, r"`num_entities` must be an integer >= 2. Received: num_entities=1"),
     ({"dim": 0}, r"`dim` must be a positive integer. Received: dim=0"),
     ({"interaction": "transh"}, r"`interaction` must be one of \['transe'"),
     ({"p_norm": 3}, r"`p_norm` must be an integer in \[1, 2\]"),
     ({"corruption": "typed"}, r"`corruption` must be one of \['uniform', 'bernoulli'\]"),
     ({"num_negatives": 0}, r"`num_negatives` must be a positive integer"),
     ({"relation_regularization": -0.1},
      r"`relation_regularization` must be a non-negative finite number")],
)
def test_bad_constructor_arguments_are_refused(kwargs, message):
    arguments = {"num_entities": 5, "num_relations": 2, "dim": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        KnowledgeGraphEmbedding(**arguments)


def test_out_of_range_ids_are_refused_before_training_and_evaluation():
    model = KnowledgeGraphEmbedding(4, 2, 3)
    model.compile(optimizer="adam", loss=KGMarginRankingLoss())
    with pytest.raises(ValueError, match=r"`x` must hold tail ids in \[0, 4\). Received: 4 at row 1"):
        model.fit(np.array([[0, 0, 1], [1, 1, 4]]), verbose=0)
    with pytest.raises(ValueError, match=r"`test_triples` must hold relation ids in \[0, 2\)"):
        evaluate_link_prediction(model, np.array([[0, 2, 1]]))
    with pytest.raises(ValueError, match=r"shape \(count, 3\)"):
        evaluate_link_prediction(model, np.array([0, 1, 2]))


def test_bernoulli_model_fitted_on_a_dataset_must_be_adapted_first():
    import tensorflow as tf

    model = KnowledgeGraphEmbedding(4, 2, 3, corruption="bernoulli")
    model.compile(optimizer="adam", loss=KGMarginRankingLoss())
    dataset = tf.data.Dataset.from_tensor_slices(np.array([[0, 0, 1], [1, 1, 2]])).batch(2)
    with pytest.raises(ValueError, match=r"call `model.adapt\(train_triples\)`"):
        model.fit(dataset, verbose=0)


def test_triples_object_checks_its_ids():
    with pytest.raises(ValueError, match=r"`ids` must hold tail ids in \[0, 2\)"):
        Triples([[0, 0, 2]], {"a": 0, "b": 1}, {"r": 0})


# --- the command line ----------------------------------------------------------------------


def test_train_kg_command_writes_vectors_label_maps_and_metrics(tmp_path):
    from keras_embed.cli import main
    from keras_embed.vectors import load

    names = [f"e{i}" for i in range(6)]
    lines = [f"{names[i]}\tnext\t{names[(i + 1) % 6]}" for i in range(6)]
    train = write(tmp_path, "train.txt", "\n".join(lines) + "\n")
    test = write(tmp_path, "test.txt", lines[0] + "\n")
    output = tmp_path / "out"
    code = main(["train", "kg", "--train", train, "--test", test, "--interaction", "complex",
                 "--dim", "3", "--epochs", "2", "--relation-regularization", "0.05",
                 "--output", str(output)])
    assert code == 0
    entities = load(str(output / "entities.vec"))
    assert entities.words == sorted(names) and entities.dim == 6  # 3 complex numbers
    reloaded = keras.saving.load_model(str(output / "model.keras"))
    np.testing.assert_array_equal(entities.matrix, tables(reloaded)[0])
    assert reloaded.relation_regularization == 0.05
    assert load(str(output / "relations.vec")).words == ["next"]
    assert (output / "entity_to_id.tsv").read_text().splitlines()[:2] == ["id\tlabel", "0\te0"]
    assert 0 < __import__("json").loads((output / "metrics.json").read_text())["mrr"] <= 1


def test_train_kg_command_reports_a_bad_file_with_exit_code_2(tmp_path, capsys):
    from keras_embed.cli import main

    train = write(tmp_path, "train.txt", "a\tr\tb\n")
    test = write(tmp_path, "test.txt", "a\tr\tc\n")
    code = main(["train", "kg", "--train", train, "--test", test, "--output", str(tmp_path)])
    assert code == 2
    assert "line 1: unknown entity 'c'" in capsys.readouterr().err
