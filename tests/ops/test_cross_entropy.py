import keras
import numpy as np
import pytest
from embed_testing import backend
from embed_testing import compiled
from embed_testing import to_numpy
from keras import ops

from keras_embed.ops.cross_entropy import default_chunk_size
from keras_embed.ops.cross_entropy import reverse_cross_entropy
from keras_embed.ops.cross_entropy import reverse_cross_entropy_reference

# 2 x 7 = 14 tokens in chunks of 4: three full chunks and an uneven last one of 2.
BATCH, SEQUENCE, DEPTH, VOCABULARY, CHUNK = 2, 7, 5, 11, 4


def reference_losses(
    hidden,
    table,
    labels,
    transpose=True,
    bias=None,
    ignore_index=-100,
    sample_weight=None,
    label_smoothing=0.0,
    z_loss=0.0,
    logit_soft_cap=None,
    reduction="mean",
    **_,
):
    """The loss in float64 numpy: cross-entropy against the smoothed target distribution."""
    hidden = np.asarray(hidden, "float64").reshape(-1, DEPTH)
    kernel = np.asarray(table, "float64")
    logits = hidden @ (kernel.T if transpose else kernel)
    if bias is not None:
        logits = logits + np.asarray(bias, "float64")
    if logit_soft_cap is not None:
        logits = logit_soft_cap * np.tanh(logits / logit_soft_cap)
    vocabulary = logits.shape[-1]
    top = logits.max(-1, keepdims=True)
    log_partition = (top + np.log(np.exp(logits - top).sum(-1, keepdims=True)))[:, 0]
    log_probs = logits - log_partition[:, None]
    flat_labels = np.asarray(labels).reshape(-1)
    kept = flat_labels != ignore_index
    targets = np.eye(vocabulary)[np.where(kept, flat_labels, 0)]
    targets = (1.0 - label_smoothing) * targets + label_smoothing / vocabulary
    losses = -(targets * log_probs).sum(-1) + z_loss * log_partition**2
    weights = kept.astype("float64")
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, "float64").reshape(-1)
    weighted = np.where(weights != 0, weights * losses, 0.0)
    if reduction == "none":
        return weighted.reshape(np.shape(labels))
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weights.sum() if weights.sum() > 0 else 0.0


def finite_difference_gradients(hidden, table, labels, bias, upstream, options, step=1e-6):
    """Central differences of the float64 reference w.r.t. every operand."""

    def total(h, t, b):
        value = reference_losses(h, t, labels, bias=b, **options)
        return float(np.sum(value * upstream)) if upstream is not None else float(value)

    operands = [np.asarray(x, "float64") for x in (hidden, table)]
    operands.append(None if bias is None else np.asarray(bias, "float64"))
    gradients = []
    for index, operand in enumerate(operands):
        if operand is None:
            gradients.append(None)
            continue
        gradient = np.zeros_like(operand)
        for position in np.ndindex(operand.shape):
            shifted = [x if x is None else x.copy() for x in operands]
            shifted[index][position] += step
            above = total(*shifted)
            shifted[index][position] -= 2 * step
            gradient[position] = (above - total(*shifted)) / (2 * step)
        gradients.append(gradient)
    return gradients


def loss_and_gradients(function, hidden, table, labels, bias=None, upstream=None, **options):
    """The loss and the gradients for hidden, table (and bias), on the current backend."""

    def objective(hidden, table, bias):
        loss = function(hidden, table, labels, bias=bias, **options)
        if upstream is not None:
            loss = ops.sum(loss * ops.convert_to_tensor(upstream))
        return loss

    operands = [hidden, table] + ([] if bias is None else [bias])
    if backend() == "jax":
        import jax

        def wrapped(*xs):
            return objective(xs[0], xs[1], xs[2] if len(xs) == 3 else None)

        argnums = tuple(range(len(operands)))
        loss, grads = jax.value_and_grad(wrapped, argnums=argnums)(*operands)
    elif backend() == "torch":
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in operands]
        loss = objective(tensors[0], tensors[1], tensors[2] if bias is not None else None)
        loss.backward()
        grads = [t.grad for t in tensors]
    else:
        import tensorflow as tf

        tensors = [tf.constant(x) for x in operands]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = objective(tensors[0], tensors[1], tensors[2] if bias is not None else None)
        grads = tape.gradient(loss, tensors)
    grads = [to_numpy(g) for g in grads] + ([None] if bias is None else [])
    return to_numpy(loss), grads


def make_problem(rng, transpose=True, with_bias=False, ignored=(), weighted=False):
    hidden = rng.normal(size=(BATCH, SEQUENCE, DEPTH)).astype("float32")
    shape = (VOCABULARY, DEPTH) if transpose else (DEPTH, VOCABULARY)
    table = rng.normal(size=shape).astype("float32")
    labels = rng.integers(0, VOCABULARY, size=(BATCH, SEQUENCE)).astype("int32")
    for position in ignored:
        labels[position] = -100
    bias = rng.normal(size=(VOCABULARY,)).astype("float32") if with_bias else None
    sample_weight = rng.uniform(0.2, 2.0, size=(BATCH, SEQUENCE)).astype("float32")
    return hidden, table, labels, bias, (sample_weight if weighted else None)


# Each option alone, and all of them together, tied and untied.
OPTION_SETS = {
    "plain": {},
    "untied": {"transpose": False},
    "bias": {"with_bias": True},
    "ignore_index": {"ignored": [(0, 1), (1, 6)]},
    "sample_weight": {"weighted": True},
    "label_smoothing": {"label_smoothing": 0.1},
    "z_loss": {"z_loss": 1e-2},
    "logit_soft_cap": {"logit_soft_cap": 2.0},
    "sum": {"reduction": "sum"},
    "none": {"reduction": "none"},
    "combined_tied": {
        "with_bias": True,
        "ignored": [(0, 0), (1, 3)],
        "weighted": True,
        "label_smoothing": 0.2,
        "z_loss": 1e-3,
        "logit_soft_cap": 3.0,
    },
    "combined_untied_none": {
        "transpose": False,
        "with_bias": True,
        "ignored": [(1, 2)],
        "weighted": True,
        "label_smoothing": 0.05,
        "z_loss": 1e-2,
        "logit_soft_cap": 2.5,
        "reduction": "none",
    },
}
PROBLEM_KEYS = ("transpose", "with_bias", "ignored", "weighted")


def build_case(rng, option_set):
    problem = {k: v for k, v in option_set.items() if k in PROBLEM_KEYS}
    options = {k: v for k, v in option_set.items() if k not in PROBLEM_KEYS}
    hidden, table, labels, bias, sample_weight = make_problem(rng, **problem)
    options.update(transpose=problem.get("transpose", True), sample_weight=sample_weight)
    return hidden, table, labels, bias, options


@pytest.mark.parametrize("name", sorted(OPTION_SETS))
def test_loss_matches_float64_reference(rng, name):
    hidden, table, labels, bias, options = build_case(rng, OPTION_SETS[name])
    loss = reverse_cross_entropy(hidden, table, labels, bias=bias, chunk_size=CHUNK, **options)
    expected = reference_losses(hidden, table, labels, bias=bias, **options)
    assert loss.shape == np.shape(expected)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPTION_SETS))
def test_gradients_match_finite_differences(rng, name):
    hidden, table, labels, bias, options = build_case(rng, OPTION_SETS[name])
    # reduction="none" is differentiated through a random upstream weighting.
    upstream = rng.normal(size=labels.shape).astype("float32") if options.get("reduction") == "none" else None
    _, grads = loss_and_gradients(
        reverse_cross_entropy, hidden, table, labels, bias, upstream, chunk_size=CHUNK, **options
    )
    expected = finite_difference_gradients(
        hidden, table, labels, bias, upstream, options
    )
    for name_of, actual, wanted in zip(("hidden", "table", "bias"), grads, expected):
        if wanted is None:
            continue
        np.testing.assert_allclose(actual, wanted, rtol=1e-4, atol=2e-6, err_msg=name_of)


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 13, 14, 64])
def test_loss_and_gradients_do_not_depend_on_chunk_size(rng, chunk_size):
    # 14 tokens: chunk sizes that divide them, leave a remainder, or exceed them.
    hidden, table, labels, bias, sample_weight = make_problem(rng, with_bias=True, weighted=True)
    args = (hidden, table, labels, bias)
    kwargs = {"sample_weight": sample_weight, "label_smoothing": 0.1}
    loss, grads = loss_and_gradients(reverse_cross_entropy, *args, chunk_size=chunk_size, **kwargs)
    whole, whole_grads = loss_and_gradients(reverse_cross_entropy, *args, chunk_size=14, **kwargs)
    np.testing.assert_allclose(loss, whole, rtol=1e-6)
    for actual, expected in zip(grads, whole_grads):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)


def test_fused_path_matches_portable_reference(rng):
    hidden, table, labels, bias, options = build_case(rng, OPTION_SETS["combined_tied"])
    fused = loss_and_gradients(reverse_cross_entropy, hidden, table, labels, bias, **options)
    portable = loss_and_gradients(
        reverse_cross_entropy_reference, hidden, table, labels, bias, **options
    )
    np.testing.assert_allclose(fused[0], portable[0], rtol=1e-6)
    for actual, expected in zip(fused[1], portable[1]):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_all_ignored_batch_gives_zero_loss_and_zero_gradients(rng, reduction):
    hidden, table, labels, bias, _ = make_problem(rng, with_bias=True)
    labels = np.full_like(labels, -100)
    loss, grads = loss_and_gradients(
        reverse_cross_entropy, hidden, table, labels, bias, chunk_size=CHUNK, reduction=reduction
    )
    assert float(loss) == 0.0
    for gradient in grads:
        np.testing.assert_array_equal(gradient, np.zeros_like(gradient))


def test_mean_divides_by_the_global_weight_sum(rng):
    # Weights 1 on the first token, 3 on the second: mean = (l0 + 3 l1) / 4.
    hidden, table, labels, _, _ = make_problem(rng)
    hidden, labels = hidden[:1, :2], labels[:1, :2]
    weights = np.array([[1.0, 3.0]], "float32")
    per_token = to_numpy(reverse_cross_entropy(hidden, table, labels, reduction="none"))
    loss = reverse_cross_entropy(hidden, table, labels, sample_weight=weights, chunk_size=1)
    expected = (per_token[0, 0] + 3.0 * per_token[0, 1]) / 4.0
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-6)


def test_ignored_tokens_are_zero_in_per_token_losses(rng):
    hidden, table, labels, _, _ = make_problem(rng, ignored=[(0, 3)])
    losses = to_numpy(reverse_cross_entropy(hidden, table, labels, reduction="none"))
    assert losses[0, 3] == 0.0
    assert np.all(losses[labels != -100] > 0.0)


def test_bfloat16_compute_stays_within_bfloat16_tolerance(rng):
    hidden, table, labels, bias, options = build_case(rng, OPTION_SETS["combined_tied"])
    loss, grads = loss_and_gradients(
        reverse_cross_entropy, hidden, table, labels, bias, compute_dtype="bfloat16", **options
    )
    expected = reference_losses(hidden, table, labels, bias=bias, **options)
    expected_grads = finite_difference_gradients(
        hidden, table, labels, bias, None, options
    )
    # bfloat16 keeps 8 bits of mantissa: ~0.4% per operand, a few % after a dot product.
    np.testing.assert_allclose(loss, expected, rtol=2e-2)
    for actual, wanted in zip(grads, expected_grads):
        scale = np.abs(wanted).max()
        np.testing.assert_allclose(actual, wanted, atol=5e-2 * scale)


def test_bfloat16_operands_give_float32_loss_and_gradients_in_their_dtype(rng):
    hidden, table, labels, _, _ = make_problem(rng)
    hidden = ops.cast(hidden, "bfloat16")
    table = ops.cast(table, "bfloat16")
    loss = reverse_cross_entropy(hidden, table, labels)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    expected = reference_losses(to_numpy(ops.cast(hidden, "float32")), to_numpy(ops.cast(table, "float32")), labels)
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=2e-2)


def test_mixed_bfloat16_policy_matches_float32_within_tolerance(rng):
    # Under mixed_bfloat16 hidden states arrive in bfloat16 and the table in float32.
    keras.config.set_dtype_policy("mixed_bfloat16")
    hidden, table, labels, bias, options = build_case(rng, OPTION_SETS["combined_tied"])
    layer = keras.layers.Dense(DEPTH, kernel_initializer="identity", use_bias=False)
    hidden_bf16 = layer(hidden)
    assert keras.backend.standardize_dtype(hidden_bf16.dtype) == "bfloat16"
    loss = reverse_cross_entropy(hidden_bf16, table, labels, bias=bias, **options)
    expected = reference_losses(hidden, table, labels, bias=bias, **options)
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=2e-2)


def test_compiled_loss_and_gradients_match_eager(rng):
    hidden, table, labels, bias, options = build_case(rng, OPTION_SETS["combined_tied"])
    options = dict(options, bias=bias, chunk_size=CHUNK)
    eager = loss_and_gradients(reverse_cross_entropy, hidden, table, labels, **options)
    if backend() == "jax":
        import jax

        function = jax.jit(
            jax.value_and_grad(
                lambda h, t, b: reverse_cross_entropy(h, t, labels, **dict(options, bias=b)),
                argnums=(0, 1, 2),
            )
        )
        loss, grads = function(hidden, table, bias)
    elif backend() == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(x) for x in (hidden, table, bias)]

        @tf.function(jit_compile=True)
        def function():
            with tf.GradientTape() as tape:
                h, t, b = variables
                loss = reverse_cross_entropy(h, t, labels, **dict(options, bias=b))
            return loss, tape.gradient(loss, variables)

        loss, grads = function()
    else:
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in (hidden, table, bias)]
        function = compiled(
            lambda h, t, b: reverse_cross_entropy(h, t, labels, **dict(options, bias=b))
        )
        loss = function(*tensors)
        loss.backward()
        grads = [t.grad for t in tensors]
    np.testing.assert_allclose(to_numpy(loss), eager[0], rtol=1e-6)
    for actual, expected in zip(grads, eager[1]):
        np.testing.assert_allclose(to_numpy(actual), expected, rtol=1e-5, atol=1e-7)


def test_out_of_range_label_raises_when_values_are_known(rng):
    hidden, table, labels, _, _ = make_problem(rng)
    labels[1, 2] = VOCABULARY
    with pytest.raises(ValueError, match=r"`labels` holds 11 at index \(1, 2\)"):
        reverse_cross_entropy(hidden, table, labels)


def test_out_of_range_label_gives_nan_inside_compiled_function(rng):
    hidden, table, labels, _, _ = make_problem(rng)
    labels[1, 2] = VOCABULARY
    function = compiled(lambda h, t, y: reverse_cross_entropy(h, t, y, reduction="none"))
    losses = to_numpy(function(*(ops.convert_to_tensor(x) for x in (hidden, table, labels))))
    assert np.isnan(losses[1, 2])
    assert np.isfinite(np.delete(losses.reshape(-1), SEQUENCE + 2)).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reduction": "avg"}, "`reduction` must be one of"),
        ({"chunk_size": 0}, "`chunk_size` must be a positive integer"),
        ({"label_smoothing": 1.5}, r"`label_smoothing` must be a number in \[0, 1\]"),
        ({"z_loss": -1.0}, "`z_loss` must be a non-negative number"),
        ({"logit_soft_cap": 0.0}, "`logit_soft_cap` must be a positive finite number"),
        ({"ignore_index": 1.5}, "`ignore_index` must be an integer"),
        ({"transpose": 1}, "`transpose` must be True or False"),
        ({"compute_dtype": "int32"}, "`compute_dtype` must be a floating dtype"),
        ({"bias": np.zeros((3,), "float32")}, r"`bias` must be a float tensor of shape \(11,\)"),
        ({"sample_weight": np.ones((2, 3), "float32")}, "`sample_weight` must have the shape"),
        ({"transpose": False}, r"read as \(d, V\) \(transpose=False\), has d=11"),
    ],
)
def test_bad_arguments_raise_clear_errors(rng, kwargs, message):
    hidden, table, labels, _, _ = make_problem(rng)
    with pytest.raises(ValueError, match=message):
        reverse_cross_entropy(hidden, table, labels, **kwargs)


def test_bad_operands_raise_clear_errors(rng):
    hidden, table, labels, _, _ = make_problem(rng)
    with pytest.raises(ValueError, match=r"`labels` must hold integer ids.*\.5 at index \(0, 0\)"):
        reverse_cross_entropy(hidden, table, labels.astype("float32") + 0.5)
    with pytest.raises(ValueError, match=r"`labels` must have shape \(2, 7\)"):
        reverse_cross_entropy(hidden, table, labels[:, :3])
    with pytest.raises(ValueError, match="`hidden` must be a floating tensor"):
        reverse_cross_entropy(labels, table, labels)


def test_default_chunk_size_keeps_a_float32_block_near_32_mib():
    # 32 MiB / (4 bytes x V), rounded down to a power of two, clipped to [64, 8192].
    assert default_chunk_size(50257) == 128
    assert default_chunk_size(256000) == 64
    assert default_chunk_size(2048) == 4096
    assert default_chunk_size(32000) == 256
    assert default_chunk_size(100) == 8192


# --- Memory: the extra memory of a training step is set by the chunk, not the tokens.

MEMORY_DEPTH, MEMORY_VOCABULARY, MEMORY_CHUNK = 16, 4096, 64
MEMORY_TOKENS = 1024


def naive_loss(hidden, table, labels, **_):
    logits = ops.matmul(hidden, ops.transpose(table))
    return ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def fused_loss(hidden, table, labels):
    return reverse_cross_entropy(hidden, table, labels, chunk_size=MEMORY_CHUNK)


def memory_bound():
    """Bytes a chunked step may use: a few (chunk, V) blocks plus gradient-sized buffers."""
    block = MEMORY_CHUNK * MEMORY_VOCABULARY * 4
    gradients = (MEMORY_VOCABULARY + 2 * MEMORY_TOKENS) * MEMORY_DEPTH * 4
    return 8 * block + 4 * gradients


def training_step_bytes(loss_function, tokens):
    """Extra bytes of a loss-and-gradient step: XLA's temporaries on JAX, profiled peak on torch."""
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(tokens, MEMORY_DEPTH)).astype("float32")
    table = rng.normal(size=(MEMORY_VOCABULARY, MEMORY_DEPTH)).astype("float32")
    labels = rng.integers(0, MEMORY_VOCABULARY, size=(tokens,)).astype("int32")
    if backend() == "jax":
        import jax

        step = jax.jit(jax.grad(loss_function, argnums=(0, 1)))
        return step.lower(hidden, table, labels).compile().memory_analysis().temp_size_in_bytes
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile

    hidden, table = (torch.tensor(x, requires_grad=True) for x in (hidden, table))
    labels = torch.tensor(labels)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        loss_function(hidden, table, labels).backward()
    # Each op's net allocation, in the order the ops ran: the running sum peaks
    # at the step's largest live set of new tensors.
    live = peak = 0
    for event in sorted(profiler.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


@pytest.mark.skipif(
    backend() == "tensorflow", reason="TensorFlow exposes no per-step allocation accounting on CPU"
)
def test_training_step_memory_is_bounded_by_chunk_not_tokens():
    bound = memory_bound()
    naive = training_step_bytes(naive_loss, MEMORY_TOKENS)
    # The bound is tight enough that the naive step (16 MiB of logits) breaks it.
    assert naive > bound, (naive, bound)
    for tokens in (MEMORY_TOKENS, 2 * MEMORY_TOKENS):
        used = training_step_bytes(fused_loss, tokens)
        assert used < bound, (tokens, used, bound)


@pytest.mark.skipif(backend() != "jax", reason="the vocabulary-block loop is the JAX path's")
@pytest.mark.parametrize("block_rows", [1, 5, 7, 23])
@pytest.mark.parametrize("transpose", [True, False])
def test_jax_table_gradient_blocks_of_any_size_match_the_reference(
    block_rows, transpose, monkeypatch
):
    # Tiny test shapes fit one vocabulary block; shrink the block so the loop,
    # including its shifted last block (23 = 4 x 5 + 3), really runs.
    import jax

    from keras_embed.ops import _cross_entropy_jax

    tokens, depth, vocabulary = 13, 4, 23
    monkeypatch.setattr(_cross_entropy_jax, "TABLE_BLOCK_BYTES", block_rows * 4 * depth)
    _cross_entropy_jax._sweep.clear_cache()
    rng = np.random.default_rng(block_rows)
    hidden = rng.normal(size=(tokens, depth)).astype("float32")
    shape = (vocabulary, depth) if transpose else (depth, vocabulary)
    table = rng.normal(size=shape).astype("float32")
    bias = rng.normal(size=(vocabulary,)).astype("float32")
    labels = rng.integers(0, vocabulary, size=(tokens,))
    labels[2] = -100
    options = dict(transpose=transpose, chunk_size=4, label_smoothing=0.1, z_loss=1e-3)

    def loss_and_grads(loss_fn):
        def loss(hidden, table, bias):
            return loss_fn(hidden, table, labels, bias=bias, **options)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(hidden, table, bias)

    fused = loss_and_grads(reverse_cross_entropy)
    reference = loss_and_grads(reverse_cross_entropy_reference)
    _cross_entropy_jax._sweep.clear_cache()
    for ours, expected in zip(jax.tree.leaves(fused), jax.tree.leaves(reference)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), rtol=2e-5, atol=1e-6)
