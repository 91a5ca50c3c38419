"""The arithmetic of one chunk of `reverse_cross_entropy`, in `keras.ops` (private).

A leaf module: the portable reference path in `cross_entropy` and the JAX and
TensorFlow kernels (`_cross_entropy_jax`, `_cross_entropy_tf`) all import it,
and it imports none of them. Torch repeats it with in-place operations.
"""

from keras import ops


def chunk_losses(logits, labels, coefficients, options):
    """Weighted losses of one chunk and its log-partition.

    Args:
        logits: `(C, V)` float32, after the bias and the soft cap.
        labels: `(C,)` int32 in `[0, V)`.
        coefficients: `(C,)` float32 weight of each token in the reduction.

    Returns:
        `(C,)` float32 `coefficients * loss` (0 where the coefficient is 0)
        and `(C,)` float32 `logsumexp(logits)`.
    """
    smoothing = options.label_smoothing
    log_partition = ops.logsumexp(logits, axis=-1)
    target_logit = ops.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    loss = log_partition - (1.0 - smoothing) * target_logit
    if smoothing:
        loss = loss - smoothing * ops.mean(logits, axis=-1)
    if options.z_loss:
        loss = loss + options.z_loss * ops.square(log_partition)
    # A zero weight silences the token even where its loss is not finite.
    return ops.where(ops.not_equal(coefficients, 0.0), coefficients * loss, 0.0), log_partition


def chunk_logits_gradient(logits, log_partition, labels, coefficients, options):
    """Gradient of the chunk's summed weighted losses w.r.t. the logits before the cap.

    `(1 + 2 z_loss lse) softmax - ((1 - s) one_hot + s / V)`, times
    `1 - tanh^2` under a soft cap, times the token's coefficient. `(C, V)`
    float32.
    """
    vocabulary_size = logits.shape[-1]
    smoothing, cap = options.label_smoothing, options.logit_soft_cap
    gradient = ops.exp(logits - log_partition[:, None])
    if options.z_loss:
        gradient = gradient * (1.0 + 2.0 * options.z_loss * log_partition)[:, None]
    gradient = gradient - (1.0 - smoothing) * ops.one_hot(labels, vocabulary_size, dtype="float32")
    if smoothing:
        gradient = gradient - smoothing / vocabulary_size
    if cap is not None:
        gradient = gradient * (1.0 - ops.square(logits / cap))
    return gradient * coefficients[:, None]


def capped_logits(products, bias, options):
    """`(C, V)` float32 products plus the bias, soft-capped if asked."""
    logits = ops.cast(products, "float32")
    if bias is not None:
        logits = logits + ops.cast(bias, "float32")
    if options.logit_soft_cap is not None:
        cap = options.logit_soft_cap
        logits = cap * ops.tanh(logits / cap)
    return logits
