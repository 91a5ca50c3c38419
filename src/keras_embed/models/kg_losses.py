"""Keras losses for `KnowledgeGraphEmbedding`: margin ranking, softplus, self-adversarial.

Each takes `y_pred` of shape `(batch, 1 + num_negatives)`, the score of each true
triple in column 0 followed by the scores of its corruptions (what
`KnowledgeGraphEmbedding.compute_loss` passes); `y_true` is ignored. The math is
in `keras_embed.ops.kg_losses`.
"""

import keras

from keras_embed._validation import check_number
from keras_embed.ops.kg_losses import kg_margin_ranking_loss
from keras_embed.ops.kg_losses import kg_self_adversarial_loss
from keras_embed.ops.kg_losses import kg_softplus_loss


class _TripleScoresLoss(keras.losses.Loss):
    """A loss over `(batch, 1 + num_negatives)` scores, true triple first."""

    def __init__(self, name, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # There are no labels: the true triple is column 0 by construction.
        y_true = keras.ops.zeros_like(y_pred) if y_true is None else y_true
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        return self.loss_per_triple(y_pred[:, 0], y_pred[:, 1:])

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="keras_embed")
class KGMarginRankingLoss(_TripleScoresLoss):
    """Margin ranking loss of TransE (Bordes et al., 2013).

    Per true triple, the mean over its negatives of `max(0, margin - s+ + s-)`.

    Args:
        margin: positive float, how far a true triple must outscore a corruption.
            Defaults to `1.0`.

    Example:

    >>> import numpy as np
    >>> loss = KGMarginRankingLoss(margin=1.0)
    >>> float(loss(None, np.array([[2.0, 0.5, 1.5]])))  # hinges 0 and 0.5
    0.25
    """

    def __init__(self, margin=1.0, name="kg_margin_ranking_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(check_number("margin", margin, "positive", finite=True))

    def loss_per_triple(self, positive_scores, negative_scores):
        return kg_margin_ranking_loss(positive_scores, negative_scores, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package="keras_embed")
class KGSoftplusLoss(_TripleScoresLoss):
    """Logistic loss of ComplEx (Trouillon et al., 2016): `softplus(-s+)`, `softplus(s-)`.

    Averaged over the true triple and its negatives together.

    Example:

    >>> import numpy as np
    >>> loss = KGSoftplusLoss()
    >>> round(float(loss(None, np.array([[0.0, 0.0]]))), 6)  # log 2
    0.693147
    """

    def __init__(self, name="kg_softplus_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def loss_per_triple(self, positive_scores, negative_scores):
        return kg_softplus_loss(positive_scores, negative_scores)


@keras.saving.register_keras_serializable(package="keras_embed")
class KGSelfAdversarialLoss(_TripleScoresLoss):
    """Self-adversarial negative sampling loss of RotatE (Sun et al., 2019).

    `(-log sigmoid(margin + s+) - sum_i p_i log sigmoid(-s-_i - margin)) / 2`
    with `p = softmax(temperature * s-)` held constant: harder negatives weigh
    more.

    Args:
        margin: non-negative float, the paper's gamma. Defaults to `9.0` (PyKEEN's).
        temperature: non-negative float, the paper's alpha; 0 weighs the negatives
            uniformly. Defaults to `1.0`.

    Example:

    >>> import numpy as np
    >>> loss = KGSelfAdversarialLoss(margin=0.0, temperature=0.0)
    >>> round(float(loss(None, np.array([[0.0, 0.0]]))), 6)  # log 2
    0.693147
    """

    def __init__(self, margin=9.0, temperature=1.0, name="kg_self_adversarial_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(check_number("margin", margin, "non-negative", finite=True))
        self.temperature = float(
            check_number("temperature", temperature, "non-negative", finite=True)
        )

    def loss_per_triple(self, positive_scores, negative_scores):
        return kg_self_adversarial_loss(
            positive_scores, negative_scores, self.margin, self.temperature
        )

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "temperature": self.temperature}
