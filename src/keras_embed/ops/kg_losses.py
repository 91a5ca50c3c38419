"""Knowledge-graph training objectives over positive and negative triple scores.

Each function takes the scores of `batch` true triples `(batch,)` and of their
corruptions `(batch, num_negatives)` (higher is more plausible) and returns one
loss per true triple `(batch,)` in float32; their mean is the batch loss.
"""

from keras import ops


def _float32(positive_scores, negative_scores):
    return ops.cast(positive_scores, "float32"), ops.cast(negative_scores, "float32")


def kg_margin_ranking_loss(positive_scores, negative_scores, margin=1.0):
    """Margin ranking (Bordes et al., 2013): mean over negatives of `max(0, margin - s+ + s-)`.

    Returns:
        `(batch,)` float32.
    """
    positive_scores, negative_scores = _float32(positive_scores, negative_scores)
    hinges = ops.relu(margin - ops.expand_dims(positive_scores, -1) + negative_scores)
    return ops.mean(hinges, axis=-1)


def kg_softplus_loss(positive_scores, negative_scores):
    """Logistic loss (Trouillon et al., 2016): `softplus(-s)` for true, `softplus(s)` for false.

    The mean runs over the true triple and its negatives together, so every
    scored triple weighs the same, as in PyKEEN's `SoftplusLoss`.

    Returns:
        `(batch,)` float32.
    """
    positive_scores, negative_scores = _float32(positive_scores, negative_scores)
    total = ops.softplus(-positive_scores) + ops.sum(ops.softplus(negative_scores), axis=-1)
    return total / (1 + ops.shape(negative_scores)[-1])


def kg_self_adversarial_loss(positive_scores, negative_scores, margin=9.0, temperature=1.0):
    """Self-adversarial negative sampling (Sun et al., 2019, eq. 5).

    `(-log sigmoid(margin + s+) - sum_i p_i log sigmoid(-s-_i - margin)) / 2`, where
    `p = softmax(temperature * s-)` over the negatives is held constant (no
    gradient). With distance models (`s = -d`) this is the paper's
    `-log sigmoid(gamma - d) - sum_i p_i log sigmoid(d_i - gamma)`; the halving
    follows the authors' code, which averages the positive and negative terms.

    Returns:
        `(batch,)` float32.
    """
    positive_scores, negative_scores = _float32(positive_scores, negative_scores)
    weights = ops.stop_gradient(ops.softmax(temperature * negative_scores, axis=-1))
    positive_term = -ops.log_sigmoid(margin + positive_scores)
    negative_term = -ops.sum(weights * ops.log_sigmoid(-negative_scores - margin), axis=-1)
    return (positive_term + negative_term) / 2
