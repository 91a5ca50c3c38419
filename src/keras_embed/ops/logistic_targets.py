"""Binary logistic terms of an input vector against target rows: word2vec's two objectives.

Negative sampling and hierarchical softmax (Mikolov et al., 2013) both sum
`-log s(+-u . v_t)` over a few target rows `v_t` of an output table: the true
word (label 1) and sampled noise words (label 0), or the inner nodes on the
word's Huffman path (label `1 - code`). This module holds that sum and its
closed-form gradient once; `keras_embed.losses` builds the two losses on it
and the word-vector models' SGD step applies the gradient row by row.
"""

from keras import ops


def _target_scores(inputs, targets):
    """`(batch, t)` float32 dot products of `inputs` `(batch, d)` with `targets` `(batch, t, d)`."""
    return ops.einsum("bd,btd->bt", ops.cast(inputs, "float32"), ops.cast(targets, "float32"))


def logistic_target_loss(inputs, targets, labels, mask=None):
    """`sum_t mask * -log s((2 label - 1) u . v_t)`, per example.

    Args:
        inputs: `(batch, d)` input vectors `u`.
        targets: `(batch, t, d)` target rows `v_t`.
        labels: `(batch, t)` 1 for a target to score high, 0 for one to score low.
        mask: optional `(batch, t)`, 0 where a target slot is padding.

    Returns:
        `(batch,)` float32 losses.
    """
    signs = 2.0 * ops.cast(labels, "float32") - 1.0
    # -log s(x) = softplus(-x), stable for large |x|.
    terms = ops.softplus(-signs * _target_scores(inputs, targets))
    if mask is not None:
        terms = terms * ops.cast(mask, "float32")
    return ops.sum(terms, axis=-1)


def logistic_target_gradients(inputs, targets, labels, mask=None):
    """The loss of `logistic_target_loss` and its gradients, in closed form.

    `d loss / d (u . v_t) = mask * (s(u . v_t) - label)`, so the input's gradient
    is `sum_t that * v_t` and target `t`'s is `that * u` (word2vec's `g`, negated
    and without the learning rate).

    Returns:
        `(losses, input_gradients, target_gradients)`: `(batch,)`, `(batch, d)`
        and `(batch, t, d)`, float32.
    """
    inputs = ops.cast(inputs, "float32")
    targets = ops.cast(targets, "float32")
    labels = ops.cast(labels, "float32")
    scores = _target_scores(inputs, targets)
    residuals = ops.sigmoid(scores) - labels
    terms = ops.softplus(-(2.0 * labels - 1.0) * scores)
    if mask is not None:
        mask = ops.cast(mask, "float32")
        residuals, terms = residuals * mask, terms * mask
    input_gradients = ops.einsum("bt,btd->bd", residuals, targets)
    target_gradients = ops.expand_dims(residuals, -1) * ops.expand_dims(inputs, 1)
    return ops.sum(terms, axis=-1), input_gradients, target_gradients
