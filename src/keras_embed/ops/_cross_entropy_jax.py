"""JAX fast path of `keras_embed.ops.reverse_cross_entropy` (private).

A `jax.custom_vjp` around one `lax.scan` over token chunks. The tokens are
padded with zero-weight rows to a whole number of chunks so that every scan
step has the same static shape. Within a step one `(C, V)` float32 buffer
holds the logits and then, in place, their gradient, and the table gradient
is accumulated in place one vocabulary block at a time, so the temporaries
stay near one logits block whatever the table size.
"""

import functools

import jax
import jax.numpy as jnp

from keras_embed.ops._cross_entropy_chunks import capped_logits
from keras_embed.ops._cross_entropy_chunks import chunk_logits_gradient
from keras_embed.ops._cross_entropy_chunks import chunk_losses


def _product(a, b, a_axis, b_axis):
    """Contract `a_axis` of `a` with `b_axis` of `b`; float32 result for any operands."""
    dimensions = (((a_axis,), (b_axis,)), ((), ()))
    return jax.lax.dot_general(a, b, dimensions, preferred_element_type=jnp.float32)


# The (V, d) table-gradient update of one chunk is written one block of this
# many bytes at a time: XLA on CPU cannot add a matrix product into an
# existing buffer, so a whole-table update would need a second (V, d) buffer.
TABLE_BLOCK_BYTES = 4 * 2**20


def _add_table_product(table_grad, logits_grad, hidden_chunk, options):
    """`table_grad` plus the chunk's table gradient, updated in place block by block.

    Args:
        table_grad: `(V, d)`, or `(d, V)` when `options.transpose` is False;
            float32 accumulator.
        logits_grad: `(C, V)` in the compute dtype.
        hidden_chunk: `(C, d)` in the compute dtype.
    """
    vocabulary_size, depth = logits_grad.shape[1], hidden_chunk.shape[1]
    rows = max(1, min(vocabulary_size, TABLE_BLOCK_BYTES // (4 * depth)))
    blocks = -(-vocabulary_size // rows)
    vocabulary_axis = 0 if options.transpose else 1

    def add_block(index, table_grad):
        # The last block is shifted back to end at V; its columns that the
        # previous block already added are zeroed, so every block has one shape.
        nominal = index * rows
        start = jnp.minimum(nominal, vocabulary_size - rows)
        block = jax.lax.dynamic_slice_in_dim(logits_grad, start, rows, axis=1)  # (C, rows)
        fresh = start + jnp.arange(rows) >= nominal  # (rows,)
        block = jnp.where(fresh[None, :], block, jnp.zeros((), block.dtype))
        if options.transpose:
            update = _product(block, hidden_chunk, 0, 0)  # (rows, d)
        else:
            update = _product(hidden_chunk, block, 0, 0)  # (d, rows)
        current = jax.lax.dynamic_slice_in_dim(table_grad, start, rows, axis=vocabulary_axis)
        return jax.lax.dynamic_update_slice_in_dim(
            table_grad, current + update, start, axis=vocabulary_axis
        )

    return jax.lax.fori_loop(0, blocks, add_block, table_grad)


# Compiled once per shape and options, so eager calls do not retrace the scan.
@functools.partial(jax.jit, static_argnums=(5, 6))
def _sweep(hidden, table, bias, labels, coefficients, options, with_grads):
    """Per-token losses `(tokens,)` and, if asked, the gradients of their sum."""
    tokens, depth = hidden.shape
    dtype = jnp.dtype(options.compute_dtype)
    size = max(1, min(options.chunk_size, tokens))
    chunks = -(-tokens // size)
    padding = chunks * size - tokens
    kernel = table.astype(dtype)
    # The table's d axis: 1 for a (V, d) table, 0 for a (d, V) kernel.
    depth_axis = 1 if options.transpose else 0

    def step(carry, piece):
        hidden_chunk, labels_chunk, coefficients_chunk = piece  # (C, d), (C,), (C,)
        hidden_chunk = hidden_chunk.astype(dtype)
        products = _product(hidden_chunk, kernel, 1, depth_axis)  # (C, V)
        logits = capped_logits(products, bias, options)
        losses, log_partition = chunk_losses(logits, labels_chunk, coefficients_chunk, options)
        if not with_grads:
            return carry, (losses,)
        # max(lse, min(loss, -inf)) is lse, or NaN where the loss is NaN (a NaN
        # weight or logits row, whose gradient row is NaN anyway); depending on
        # the losses makes XLA take them first, so the gradient overwrites the logits.
        log_partition = jnp.maximum(log_partition, jnp.minimum(losses, -jnp.inf))
        logits_grad = chunk_logits_gradient(
            logits, log_partition, labels_chunk, coefficients_chunk, options
        )  # (C, V) float32
        logits_grad_c = logits_grad.astype(dtype)
        hidden_grad = _product(logits_grad_c, kernel, 1, 1 - depth_axis)  # (C, d)
        table_grad, bias_grad = carry
        table_grad = _add_table_product(table_grad, logits_grad_c, hidden_chunk, options)
        if bias_grad is not None:
            bias_grad = bias_grad + jnp.sum(logits_grad, axis=0)
        return (table_grad, bias_grad), (losses, hidden_grad.astype(hidden.dtype))

    pieces = (
        jnp.pad(hidden, ((0, padding), (0, 0))).reshape(chunks, size, depth),
        jnp.pad(labels, (0, padding)).reshape(chunks, size),
        jnp.pad(coefficients, (0, padding)).reshape(chunks, size),
    )
    carry = ()
    if with_grads:
        bias_grad = None if bias is None else jnp.zeros(bias.shape, jnp.float32)
        carry = (jnp.zeros(table.shape, jnp.float32), bias_grad)
    carry, outputs = jax.lax.scan(step, carry, pieces)
    losses = outputs[0].reshape(-1)[:tokens]
    if not with_grads:
        return losses, None
    table_grad, bias_grad = carry
    grads = (
        outputs[1].reshape(-1, depth)[:tokens],
        table_grad.astype(table.dtype),
        None if bias is None else bias_grad.astype(bias.dtype),
    )
    return losses, grads


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def fused_loss(hidden, table, bias, labels, coefficients, options):
    losses, _ = _sweep(hidden, table, bias, labels, coefficients, options, False)
    return losses if options.per_token else jnp.sum(losses)


def _forward(hidden, table, bias, labels, coefficients, options):
    if options.per_token:
        losses, _ = _sweep(hidden, table, bias, labels, coefficients, options, False)
        return losses, (hidden, table, bias, labels, coefficients)
    # Scalar reductions: the gradients come out of the same sweep.
    losses, grads = _sweep(hidden, table, bias, labels, coefficients, options, True)
    return jnp.sum(losses), grads


def _backward(options, saved, upstream):
    if options.per_token:
        hidden, table, bias, labels, coefficients = saved
        scaled = coefficients * upstream.astype(jnp.float32)
        _, grads = _sweep(hidden, table, bias, labels, scaled, options, True)
    else:
        grads = tuple(None if g is None else g * upstream.astype(g.dtype) for g in saved)
    return grads + (None, None)


fused_loss.defvjp(_forward, _backward)
