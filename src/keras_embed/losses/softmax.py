"""Softmax losses over sampled or in-batch candidates, and word2vec's negative sampling.

Every loss returns one value per example, `(batch,)`; the softmax statistics
are computed in float32 whatever the inputs' dtype (mixed_bfloat16 included).

- Sampled softmax (Bengio and Senecal, 2008; Jean et al., 2015): the positive
  against `k` sampled negatives, every logit corrected by `-log q` (the
  log-probability of drawing that candidate), so that popular candidates are
  not demoted for being sampled often; negatives that are the positive itself
  ("accidental hits") are left out.
- In-batch negatives (Yi et al., 2019): each query against every candidate of
  the batch, the logQ correction by candidate frequency.
- InfoNCE (van den Oord et al., 2018) and CLIP's symmetric loss (Radford et
  al., 2021): in-batch softmax over temperature-scaled similarities, CLIP's
  in both directions.
- Negative sampling (Mikolov et al., 2013): `-log s(u.v) - sum log s(-u.n)`.
"""

import keras
from keras import ops

from keras_embed._validation import check_positive_float

# Masked logits: large enough to vanish from a float32 softmax, finite so gradients stay 0, not nan.
MASKED_LOGIT = -1e9


def _float32(x):
    return ops.cast(x, "float32")


def _cross_entropy_of_first(logits):
    """`(batch,)` `logsumexp(logits) - logits[:, 0]`."""
    return ops.logsumexp(logits, axis=-1) - logits[:, 0]


def sampled_softmax_loss(
    positive_logits,
    negative_logits,
    negative_log_q=None,
    positive_log_q=None,
    positive_ids=None,
    negative_ids=None,
):
    """Sampled softmax cross-entropy with logQ correction and accidental-hit removal.

    Args:
        positive_logits: `(batch,)` score of each example's positive.
        negative_logits: `(batch, k)` scores of the sampled negatives.
        negative_log_q: `(k,)` or `(batch, k)` log-probability of drawing each
            negative; subtracted from its logit. None: no correction.
        positive_log_q: `(batch,)` the same for the positives (the correction
            applies to every candidate of the softmax), or None.
        positive_ids: `(batch,)` ids of the positives, with `negative_ids`
            `(k,)` or `(batch, k)`: a negative with the positive's id is masked out.

    Returns:
        `(batch,)` float32 losses.
    """
    positive = _float32(positive_logits)
    negatives = _float32(negative_logits)
    if negative_log_q is not None:
        negatives = negatives - _float32(negative_log_q)
    if positive_log_q is not None:
        positive = positive - _float32(positive_log_q)
    if positive_ids is not None and negative_ids is not None:
        hits = ops.equal(ops.expand_dims(positive_ids, -1), negative_ids)
        negatives = ops.where(hits, MASKED_LOGIT, negatives)
    logits = ops.concatenate([ops.expand_dims(positive, -1), negatives], axis=-1)
    return _cross_entropy_of_first(logits)


def _in_batch_logits(queries, candidates, temperature, log_q, candidate_ids):
    """`(batch, batch)` float32 logits of query i against candidate j, diagonal positive."""
    logits = ops.matmul(_float32(queries), ops.transpose(_float32(candidates))) / temperature
    if log_q is not None:
        logits = logits - ops.expand_dims(_float32(log_q), 0)
    if candidate_ids is not None:
        logits = _mask_duplicate_positives(logits, candidate_ids)
    return logits


def _mask_duplicate_positives(logits, candidate_ids):
    """Mask `logits[i, j]` where candidate j != i has candidate i's id: it is row i's positive again."""
    same = ops.equal(ops.expand_dims(candidate_ids, -1), ops.expand_dims(candidate_ids, 0))
    off_diagonal = ops.logical_not(ops.cast(ops.eye(ops.shape(logits)[0]), "bool"))
    return ops.where(ops.logical_and(same, off_diagonal), MASKED_LOGIT, logits)


def _diagonal_cross_entropy(logits):
    """`(batch,)` cross-entropy of each row with its diagonal entry as the label."""
    diagonal = ops.diagonal(logits)
    return ops.logsumexp(logits, axis=-1) - diagonal


def in_batch_softmax_loss(queries, candidates, log_q=None, candidate_ids=None, temperature=1.0):
    """Softmax of each query over the batch's candidates, its own candidate the positive.

    Args:
        queries: `(batch, dim)` query embeddings.
        candidates: `(batch, dim)` candidate embeddings; row i is query i's positive.
        log_q: `(batch,)` log-frequency of each candidate in the training data
            (the probability of it appearing as an in-batch negative); subtracted from its logits.
        candidate_ids: `(batch,)` ids: a duplicate of a row's positive elsewhere
            in the batch is masked out of that row's softmax.
        temperature: logits are `queries @ candidates.T / temperature`.

    Returns:
        `(batch,)` float32 losses.
    """
    check_positive_float("temperature", temperature)
    return _diagonal_cross_entropy(_in_batch_logits(queries, candidates, temperature, log_q, candidate_ids))


def _unit(x):
    x = _float32(x)
    return x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)


def info_nce_loss(anchors, positives, temperature=0.07):
    """InfoNCE: in-batch softmax over cosine similarities divided by `temperature`.

    Returns:
        `(batch,)` float32 losses.
    """
    check_positive_float("temperature", temperature)
    return _diagonal_cross_entropy(_in_batch_logits(_unit(anchors), _unit(positives), temperature, None, None))


def clip_loss(image_embeddings, text_embeddings, logit_scale):
    """CLIP's symmetric loss: the mean of image->text and text->image cross-entropies.

    Args:
        image_embeddings, text_embeddings: `(batch, dim)`; row i of each is a pair.
        logit_scale: the multiplier of the cosine similarities (`1 / temperature`).

    Returns:
        `(batch,)` float32 losses.
    """
    logits = ops.matmul(_unit(image_embeddings), ops.transpose(_unit(text_embeddings))) * _float32(logit_scale)
    return (_diagonal_cross_entropy(logits) + _diagonal_cross_entropy(ops.transpose(logits))) / 2.0


def negative_sampling_loss(centers, contexts, negatives):
    """word2vec's negative-sampling loss: `-log s(u.v) - sum_n log s(-u.n)`.

    Args:
        centers: `(batch, dim)` center-word vectors `u`.
        contexts: `(batch, dim)` context-word vectors `v`.
        negatives: `(batch, k, dim)` vectors of the `k` sampled noise words.

    Returns:
        `(batch,)` float32 losses.
    """
    centers = _float32(centers)
    positive = ops.sum(centers * _float32(contexts), axis=-1)
    negative = ops.einsum("bd,bkd->bk", centers, _float32(negatives))
    # log s(x) = -softplus(-x), stable for large |x|.
    return ops.softplus(-positive) + ops.sum(ops.softplus(negative), axis=-1)


@keras.saving.register_keras_serializable(package="keras_embed")
class InBatchSoftmaxLoss(keras.losses.Loss):
    """In-batch softmax as a Keras loss over a `(batch, batch)` score matrix.

    `y_pred[i, j]` scores query i against candidate j, the positive on the
    diagonal; `y_true` holds the `(batch,)` candidate ids, so that duplicates
    of a row's positive elsewhere in the batch are masked out (pass
    `arange(batch)` when every candidate is distinct).

    Args:
        temperature: scores are divided by it.
        **kwargs: `keras.losses.Loss` arguments (`reduction`, `name`, `dtype`).

    Example:

    >>> import numpy as np
    >>> scores = np.array([[2.0, 0.0], [0.0, 2.0]], "float32")
    >>> loss = InBatchSoftmaxLoss()
    >>> round(float(loss(np.array([0, 1]), scores)), 4)
    0.1269
    """

    def __init__(self, temperature=1.0, name="in_batch_softmax", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = check_positive_float("temperature", temperature)

    def call(self, y_true, y_pred):
        logits = _mask_duplicate_positives(_float32(y_pred) / self.temperature, y_true)
        return _diagonal_cross_entropy(logits)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}
