"""Cross-entropy over a vocabulary that never holds the whole logits matrix.

The reverse projection of a language model gives `tokens x vocabulary`
logits: 823 MB in float32 for 4096 tokens at GPT-2's 50257 words, and a
naive training step keeps two or three such tensors (logits, their softmax,
their gradient). `reverse_cross_entropy` fuses the projection, the softmax
cross-entropy and its gradient, one chunk of tokens at a time, so the extra
memory is `chunk_size x vocabulary` whatever the number of tokens.

Design: the tokens are chunked and every chunk sees the whole vocabulary, so
one row of logits gives the exact log-sum-exp and the chunk's gradient
(`softmax - target`) is ready as soon as its logits are. For `"sum"` and
`"mean"` the gradients of `hidden`, `table` and `bias` are accumulated in the
forward pass whenever a gradient will be taken (three matrix products per
chunk, as many as the naive path) and the backward pass only scales them.
Splitting the vocabulary too (an online log-sum-exp over vocabulary blocks,
as Cut Cross-Entropy does) would bound memory further but needs the logits
twice, four products instead of three; instead the default chunk size
adapts to the vocabulary so that one float32 `(chunk, V)` block stays near
32 MiB. No vocabulary block exists, so no padded vocabulary needs masking.

The per-chunk arithmetic (`chunk_losses`, `chunk_logits_gradient`) is
written once in `keras.ops`, in the leaf module `_cross_entropy_chunks`; the
loop around it and the custom gradient are per backend (`_cross_entropy_jax`, `_cross_entropy_torch` with in-place
chunk arithmetic, `_cross_entropy_tf`). Other backends run the portable
`reverse_cross_entropy_reference`, which differentiates by autodiff, so
there only the forward pass is memory-bounded.

Over 400 lines because `reverse_cross_entropy` is one public function whose
docstring is its user guide (~120 lines), and whose argument checks and
flattening are shared by every backend's kernel.
"""

import collections
import math

import keras
import numpy as np
from keras import ops

from keras_embed._validation import check_bool
from keras_embed._validation import check_float_dtype
from keras_embed._validation import check_integer
from keras_embed._validation import check_number
from keras_embed._validation import check_positive_int
from keras_embed._validation import check_rate
from keras_embed._validation import check_soft_cap
from keras_embed._validation import describe
from keras_embed.ops._backend import concrete_value, fused_cross_entropy
from keras_embed.ops._cross_entropy_chunks import capped_logits
from keras_embed.ops._cross_entropy_chunks import chunk_losses
from keras_embed.ops._ids import check_numbers
from keras_embed.ops._ids import integer_ids
from keras_embed.ops.lookup import in_range

# One float32 (chunk, vocabulary) block of logits is kept near this size.
CHUNK_BYTES = 32 * 2**20
# Below ~64 rows the per-chunk update of the (V, d) table gradient dominates.
MIN_CHUNK_SIZE = 64
MAX_CHUNK_SIZE = 8192

REDUCTIONS = ("none", "sum", "mean")


# Everything the chunk loop needs besides tensors; hashable, for JAX.
Options = collections.namedtuple(
    "Options",
    [
        "transpose",
        "chunk_size",
        "label_smoothing",
        "z_loss",
        "logit_soft_cap",
        "compute_dtype",
        "per_token",
    ],
)


def default_chunk_size(vocabulary_size):
    """Tokens per chunk when `chunk_size=None`.

    The largest power of two whose float32 `(chunk, vocabulary)` logits fit
    in `CHUNK_BYTES` (32 MiB), clipped to `[64, 8192]`: 128 tokens for
    GPT-2's 50257 words, 64 for Gemma's 256000, 4096 for 2048 words.
    """
    rows = max(CHUNK_BYTES // (4 * max(int(vocabulary_size), 1)), 1)
    rows = 2 ** int(math.floor(math.log2(rows)))
    return int(min(max(rows, MIN_CHUNK_SIZE), MAX_CHUNK_SIZE))


def reverse_cross_entropy(
    hidden,
    table,
    labels,
    *,
    transpose=True,
    bias=None,
    chunk_size=None,
    ignore_index=-100,
    sample_weight=None,
    label_smoothing=0.0,
    z_loss=0.0,
    logit_soft_cap=None,
    reduction="mean",
    compute_dtype=None,
):
    """Softmax cross-entropy of `hidden @ table.T` without materialising logits.

    Computes the loss of the logits `z = hidden @ table.T + bias` (or
    `hidden @ table + bias` for an untied `(d, V)` kernel, `transpose=False`)
    against integer `labels`, chunk by chunk over the tokens, so that peak
    extra memory is `O(chunk_size x V)`, never `O(tokens x V)`. Per token:

    `loss = logsumexp(z) - (1 - s) * z[label] - (s / V) * sum(z)
    + z_loss * logsumexp(z) ** 2`

    with `s = label_smoothing` (the target is `(1 - s) * one_hot + s / V`,
    as in `keras.losses.CategoricalCrossentropy`) and, when `logit_soft_cap`
    is set, `z` replaced by `cap * tanh(z / cap)` (Gemma 2) after the bias.
    The z-loss is PaLM's auxiliary loss that keeps `logsumexp(z)` near 0.

    Gradients for `hidden`, `table` and `bias` are exact and come from a
    custom gradient (`jax.custom_vjp`, `torch.autograd.Function`,
    `tf.custom_gradient`), not from autodiff through the chunk loop, which
    would keep every chunk alive. `labels` and `sample_weight` get no
    gradient. Operands are multiplied in `compute_dtype` with float32
    results; the softmax statistics and the `softmax - target` term are
    float32, and so is the loss.

    With the default `chunk_size` one float32 `(chunk, V)` block stays near
    32 MiB (128 tokens at V=50257). `benchmarks/bench_cross_entropy.py`
    compares memory and time with the naive path.

    Training with `model.fit`: return the hidden states from `call` and
    compute the loss in `compute_loss`, where the table is at hand. This
    runs on JAX, TensorFlow and PyTorch, compiled or not:

    ```python
    class LanguageModel(keras.Model):
        def __init__(self, vocabulary_size, hidden_dim, **kwargs):
            super().__init__(**kwargs)
            self.embedding = ReversibleEmbedding(vocabulary_size, hidden_dim)
            self.dense = keras.layers.Dense(hidden_dim, activation="gelu")

        def call(self, token_ids):
            return self.dense(self.embedding(token_ids))  # hidden states

        def compute_loss(self, x=None, y=None, y_pred=None,
                         sample_weight=None, training=True):
            loss = self.embedding.reverse_loss(
                y_pred, y, sample_weight=sample_weight)
            return loss + ops.sum(self.losses) if self.losses else loss

    model = LanguageModel(1000, 64)
    model.compile(optimizer="adam")  # no `loss=`: compute_loss is the loss
    model.fit(token_ids, next_token_ids)
    ```

    Args:
        hidden: float tensor of shape `(..., d)`, the hidden states.
        table: float tensor of shape `(V, d)` when `transpose=True` (a tied
            embedding table) or `(d, V)` when `transpose=False` (a kernel).
        labels: integer tensor of shape `(...)` with ids in `[0, V)` or
            equal to `ignore_index`.
        transpose: bool. Whether `table` is `(V, d)` and is transposed.
            Defaults to `True`.
        bias: optional float tensor of shape `(V,)` added to the logits.
        chunk_size: positive int, tokens per chunk. Defaults to
            `default_chunk_size(V)`.
        ignore_index: int. Tokens with this label add nothing to the loss,
            to the weight sum or to the gradients. Defaults to `-100`.
        sample_weight: optional float tensor of shape `(...)`, per-token
            weights (e.g. the `mask_weights` of a masked LM).
        label_smoothing: float in `[0, 1]`. Defaults to `0.0`.
        z_loss: non-negative float, weight of `logsumexp(z) ** 2`.
            Defaults to `0.0`.
        logit_soft_cap: positive float or `None`. Defaults to `None`.
        reduction: `"mean"` (weighted sum divided by the global sum of the
            weights of the non-ignored tokens; 0 when that sum is 0),
            `"sum"`, or `"none"` (per-token weighted losses of shape
            `(...)`, 0 at ignored tokens). Defaults to `"mean"`.
        compute_dtype: dtype of the matrix products. Defaults to the dtype
            of `hidden`.

    Returns:
        A float32 scalar, or a float32 tensor of shape `(...)` when
        `reduction="none"`.

    Labels outside `[0, V)` (other than `ignore_index`) raise a
    `ValueError` when their values are known (eager calls); inside compiled
    functions they give a NaN loss and NaN gradients rather than a silently
    wrong number.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> hidden = rng.normal(size=(2, 8, 16)).astype("float32")
    >>> table = rng.normal(size=(100, 16)).astype("float32")
    >>> labels = rng.integers(0, 100, size=(2, 8))
    >>> loss = reverse_cross_entropy(hidden, table, labels, chunk_size=4)
    >>> tuple(loss.shape)
    ()
    """
    prepared = _prepare(
        hidden,
        table,
        labels,
        transpose=transpose,
        bias=bias,
        chunk_size=chunk_size,
        ignore_index=ignore_index,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        logit_soft_cap=logit_soft_cap,
        reduction=reduction,
        compute_dtype=compute_dtype,
    )
    return _run(fused_cross_entropy() or _reference_loss, prepared)


def reverse_cross_entropy_reference(hidden, table, labels, **options):
    """`reverse_cross_entropy` in portable `keras.ops`, differentiated by autodiff.

    Takes the same arguments and gives the same results and errors. The
    chunks are a Python loop, so the forward pass alone is memory-bounded;
    autodiff keeps every chunk's logits for the backward pass. Backends
    without a fused path run it, and the fused paths are tested against it.
    """
    return _run(_reference_loss, _prepare(hidden, table, labels, **_with_defaults(options)))


def _with_defaults(options):
    defaults = {
        "transpose": True,
        "bias": None,
        "chunk_size": None,
        "ignore_index": -100,
        "sample_weight": None,
        "label_smoothing": 0.0,
        "z_loss": 0.0,
        "logit_soft_cap": None,
        "reduction": "mean",
        "compute_dtype": None,
    }
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"Unexpected options {unknown}; expected some of {sorted(defaults)}.")
    return {**defaults, **options}


def _reference_loss(hidden, table, bias, labels, coefficients, options):
    # (V, d) -> (d, V) so every chunk is a plain matmul.
    kernel = ops.cast(ops.transpose(table) if options.transpose else table, options.compute_dtype)
    tokens = hidden.shape[0]
    pieces = []
    for start in range(0, tokens, options.chunk_size):
        stop = min(start + options.chunk_size, tokens)
        hidden_chunk = ops.cast(hidden[start:stop], options.compute_dtype)  # (C, d)
        logits = capped_logits(ops.matmul(hidden_chunk, kernel), bias, options)  # (C, V)
        losses, _ = chunk_losses(logits, labels[start:stop], coefficients[start:stop], options)
        pieces.append(losses)
    if not pieces:
        losses = ops.zeros((0,), "float32")
    else:
        losses = ops.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]
    return losses if options.per_token else ops.sum(losses)


# ---------------------------------------------------------------------------
# Checks and flattening, shared by every path. Each fused path receives
#   hidden (tokens, d) in its own dtype, table (V, d) or (d, V), bias (V,) or
#   None, labels (tokens,) int32 inside [0, V), coefficients (tokens,)
#   float32 (the weight of each token in the reduction: 0 where ignored,
#   NaN where the label was out of range),
# and returns sum(coefficients * loss), or the per-token products when
# `options.per_token`.

_Prepared = collections.namedtuple(
    "_Prepared", ["hidden", "table", "bias", "labels", "coefficients", "options", "output_shape"]
)


def _run(fused, prepared):
    losses = fused(
        prepared.hidden,
        prepared.table,
        prepared.bias,
        prepared.labels,
        prepared.coefficients,
        prepared.options,
    )
    if prepared.options.per_token:
        return ops.reshape(losses, prepared.output_shape)
    return losses


def _static_shape(x):
    return tuple(None if d is None else int(d) for d in x.shape)


def _dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


def _shapes_match(shape, expected):
    if len(shape) != len(expected):
        return False
    return all(a is None or b is None or a == b for a, b in zip(shape, expected))


def _check_options(transpose, ignore_index, z_loss, logit_soft_cap, reduction, compute_dtype):
    """Checks what `check_*` helpers do not cover; returns the standard compute dtype."""
    check_bool("transpose", transpose)
    check_integer("ignore_index", ignore_index)
    check_number("z_loss", z_loss, sign="non-negative")
    check_soft_cap(logit_soft_cap)
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"`reduction` must be one of {REDUCTIONS}. Received: reduction={describe(reduction)}."
        )
    return check_float_dtype("compute_dtype", compute_dtype)


def _check_label_values(labels, vocabulary_size, ignore_index):
    values = concrete_value(labels)
    if values is None or values.size == 0:
        return
    bad = (values != ignore_index) & ((values < 0) | (values >= vocabulary_size))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`labels` holds {int(values[where])} at index {where}, outside the "
            f"vocabulary [0, {vocabulary_size}) and not ignore_index={ignore_index}."
        )


def _prepare(
    hidden,
    table,
    labels,
    *,
    transpose,
    bias,
    chunk_size,
    ignore_index,
    sample_weight,
    label_smoothing,
    z_loss,
    logit_soft_cap,
    reduction,
    compute_dtype,
):
    compute_dtype = _check_options(
        transpose, ignore_index, z_loss, logit_soft_cap, reduction, compute_dtype
    )
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    label_smoothing = check_rate("label_smoothing", label_smoothing)
    check_numbers("hidden", hidden)
    check_numbers("table", table)
    hidden = ops.convert_to_tensor(hidden)
    table = ops.convert_to_tensor(table)
    for name, tensor in (("hidden", hidden), ("table", table)):
        if "float" not in _dtype_name(tensor):
            raise ValueError(
                f"`{name}` must be a floating tensor. Received: dtype={_dtype_name(tensor)}."
            )
    labels = integer_ids("labels", labels)
    hidden_shape, table_shape, labels_shape = map(_static_shape, (hidden, table, labels))
    if len(hidden_shape) < 1:
        raise ValueError(
            f"`hidden` must have shape (..., d), at least rank 1. Received: shape={hidden_shape}."
        )
    if len(table_shape) != 2:
        expected = "(V, d)" if transpose else "(d, V)"
        raise ValueError(
            f"`table` must have rank 2, shape {expected} with transpose={transpose}. "
            f"Received: shape={table_shape}."
        )
    depth = hidden_shape[-1]
    vocabulary_size, table_depth = table_shape if transpose else table_shape[::-1]
    if vocabulary_size is None or depth is None or table_depth is None:
        raise ValueError(
            "The sizes of `table` and the last axis of `hidden` must be known. "
            f"Received: table shape {table_shape}, hidden shape {hidden_shape}."
        )
    if depth != table_depth:
        layout = "(V, d) (transpose=True)" if transpose else "(d, V) (transpose=False)"
        raise ValueError(
            f"`table` of shape {table_shape}, read as {layout}, has d={table_depth}, "
            f"but `hidden` of shape {hidden_shape} has d={depth}."
        )
    if not _shapes_match(labels_shape, hidden_shape[:-1]):
        raise ValueError(
            f"`labels` must have shape {hidden_shape[:-1]} (the shape of `hidden` "
            f"without its last axis). Received: labels shape {labels_shape}."
        )
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
        if "float" not in _dtype_name(bias) or _static_shape(bias) != (vocabulary_size,):
            raise ValueError(
                f"`bias` must be a float tensor of shape ({vocabulary_size},). Received: "
                f"shape={_static_shape(bias)}, dtype={_dtype_name(bias)}."
            )
    if sample_weight is not None:
        sample_weight = ops.convert_to_tensor(sample_weight)
        if not _shapes_match(_static_shape(sample_weight), labels_shape):
            raise ValueError(
                f"`sample_weight` must have the shape of `labels`, {labels_shape}. "
                f"Received: shape={_static_shape(sample_weight)}."
            )
    _check_label_values(labels, vocabulary_size, ignore_index)

    options = Options(
        transpose=transpose,
        chunk_size=int(chunk_size or default_chunk_size(vocabulary_size)),
        label_smoothing=label_smoothing,
        z_loss=float(z_loss),
        logit_soft_cap=None if logit_soft_cap is None else float(logit_soft_cap),
        compute_dtype=compute_dtype or _dtype_name(hidden),
        per_token=reduction == "none",
    )
    # Symbolic axes (TF graphs with an unknown batch) stay tensors.
    output_shape = ops.shape(labels) if None in labels_shape else labels_shape

    # (..., d) -> (tokens, d); (...) -> (tokens,)
    hidden = ops.reshape(hidden, (-1, depth))
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    kept = ops.not_equal(labels, ignore_index)
    weights = ops.cast(kept, "float32")
    if sample_weight is not None:
        sample_weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        weights = ops.where(kept, sample_weight, ops.zeros_like(sample_weight))
    weights = ops.stop_gradient(weights)
    if reduction == "mean":
        # The global weight sum; an all-ignored batch divides 0 by 1.
        total = ops.sum(weights)
        weights = weights / ops.where(ops.greater(total, 0.0), total, 1.0)
    # A label outside the vocabulary (unknown until run time) poisons its token.
    known = in_range(labels, vocabulary_size)
    poison = ops.where(ops.logical_or(known, ops.logical_not(kept)), 1.0, math.nan)
    coefficients = weights * ops.cast(poison, "float32")
    labels = ops.where(known, labels, ops.zeros_like(labels))
    return _Prepared(hidden, table, bias, labels, coefficients, options, output_shape)
