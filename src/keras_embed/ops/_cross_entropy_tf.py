"""TensorFlow fast path of `keras_embed.ops.reverse_cross_entropy` (private).

A `tf.custom_gradient` around one `tf.while_loop` over token chunks. Every
chunk has the static size `chunk_size` (the tokens are padded with
zero-weight rows), so the loop also compiles under XLA.
"""

import tensorflow as tf

from keras_embed.ops._cross_entropy_chunks import capped_logits
from keras_embed.ops._cross_entropy_chunks import chunk_logits_gradient
from keras_embed.ops._cross_entropy_chunks import chunk_losses


def _sweep(hidden, table, bias, labels, coefficients, options, with_grads):
    """Per-token losses `(tokens,)` and, if asked, the gradients of their sum."""
    dtype = tf.as_dtype(options.compute_dtype)
    depth = hidden.shape[1]
    kernel = tf.cast(table, dtype)
    tokens = tf.shape(hidden)[0]
    size = options.chunk_size
    if hidden.shape[0] is not None:
        size = max(1, min(size, int(hidden.shape[0])))
    chunks = (tokens + size - 1) // size
    padding = chunks * size - tokens
    hidden = tf.pad(hidden, [[0, padding], [0, 0]])
    labels = tf.pad(labels, [[0, padding]])
    coefficients = tf.pad(coefficients, [[0, padding]])

    def step(i, losses_out, hidden_grad_out, table_grad, bias_grad):
        start = i * size
        hidden_chunk = tf.cast(tf.slice(hidden, [start, 0], [size, depth]), dtype)  # (C, d)
        labels_chunk = tf.slice(labels, [start], [size])  # (C,)
        coefficients_chunk = tf.slice(coefficients, [start], [size])  # (C,)
        products = tf.matmul(hidden_chunk, kernel, transpose_b=options.transpose)  # (C, V)
        logits = capped_logits(products, bias, options)
        losses, log_partition = chunk_losses(logits, labels_chunk, coefficients_chunk, options)
        losses_out = losses_out.write(i, losses)
        if not with_grads:
            return i + 1, losses_out, hidden_grad_out, table_grad, bias_grad
        logits_grad = chunk_logits_gradient(
            logits, log_partition, labels_chunk, coefficients_chunk, options
        )  # (C, V) float32
        logits_grad_c = tf.cast(logits_grad, dtype)
        hidden_grad = tf.matmul(logits_grad_c, kernel, transpose_b=not options.transpose)
        hidden_grad_out = hidden_grad_out.write(i, tf.cast(hidden_grad, hidden.dtype))
        if options.transpose:  # (V, C) @ (C, d)
            update = tf.matmul(logits_grad_c, hidden_chunk, transpose_a=True)
        else:  # (d, C) @ (C, V)
            update = tf.matmul(hidden_chunk, logits_grad_c, transpose_a=True)
        table_grad += tf.cast(update, tf.float32)
        if bias is not None:
            bias_grad += tf.reduce_sum(logits_grad, axis=0)
        return i + 1, losses_out, hidden_grad_out, table_grad, bias_grad

    grad_shape = table.shape if with_grads else [0]
    bias_shape = bias.shape if with_grads and bias is not None else [0]
    state = (
        tf.constant(0),
        tf.TensorArray(tf.float32, size=chunks, element_shape=[size]),
        tf.TensorArray(hidden.dtype, size=chunks, element_shape=[size, depth]),
        tf.zeros(grad_shape, tf.float32),
        tf.zeros(bias_shape, tf.float32),
    )
    # One chunk at a time: overlapping iterations would multiply the memory.
    state = tf.while_loop(lambda i, *_: i < chunks, step, state, parallel_iterations=1)
    losses = tf.reshape(state[1].stack(), [-1])[:tokens]
    if not with_grads:
        return losses, None
    grads = (
        tf.reshape(state[2].stack(), [-1, depth])[:tokens],
        tf.cast(state[3], table.dtype),
        None if bias is None else tf.cast(state[4], bias.dtype),
    )
    return losses, grads


def _gradient_may_be_taken():
    """Whether a GradientTape is recording (eagerly, or while tracing a train step)."""
    try:
        from tensorflow.python.eager import record

        return bool(record.could_possibly_record())
    except (ImportError, AttributeError):  # the private API moved: assume a gradient
        return True


def fused_loss(hidden, table, bias, labels, coefficients, options):
    with_grads = _gradient_may_be_taken() and not options.per_token
    operands = (hidden, table) if bias is None else (hidden, table, bias)
    # Read variables here: inside, custom_gradient would want their gradients separately.
    operands = tuple(tf.convert_to_tensor(x) for x in operands)

    @tf.custom_gradient
    def fused(*operands):
        hidden, table = operands[:2]
        bias = operands[2] if len(operands) == 3 else None
        losses, grads = _sweep(hidden, table, bias, labels, coefficients, options, with_grads)
        if with_grads:  # scalar reductions: the gradients came out of the same sweep

            def gradient(upstream):
                return [g * tf.cast(upstream, g.dtype) for g in grads[: len(operands)]]

            return tf.reduce_sum(losses), gradient

        def gradient(upstream):
            scaled = coefficients * tf.cast(upstream, tf.float32)
            _, grads = _sweep(hidden, table, bias, labels, scaled, options, True)
            return list(grads[: len(operands)])

        return (losses if options.per_token else tf.reduce_sum(losses)), gradient

    return fused(*operands)
