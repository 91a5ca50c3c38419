"""PyTorch fast path of `keras_embed.ops.reverse_cross_entropy` (private).

A `torch.autograd.Function` over a Python loop of token chunks. Eager torch
runs one kernel per operation and keeps every intermediate until it is
dropped, so the chunk arithmetic of `_cross_entropy_chunks.chunk_losses` and
`chunk_logits_gradient` is repeated here with few, in-place operations on one
`(C, V)` buffer shared by all chunks (two with a `logit_soft_cap`).
"""

import torch


def _sweep(hidden, table, bias, labels, coefficients, options, with_grads):
    """Per-token losses `(tokens,)` and, if asked, the gradients of their sum.

    Each chunk's `(C, V)` block lives in one buffer allocated once: the
    logits, then in place their log-softmax (one fused kernel), then the
    softmax and the gradient wrt the logits, unscaled. The per-token
    coefficient scales the `(C, d)` operands of the two gradient products
    instead of the `(C, V)` block, which saves a full pass over it.
    """
    f32 = torch.float32
    dtype = getattr(torch, options.compute_dtype)
    device = hidden.device
    tokens, depth = hidden.shape
    vocabulary_size = table.shape[0] if options.transpose else table.shape[1]
    smoothing, cap = options.label_smoothing, options.logit_soft_cap
    kernel = table.to(dtype)
    to_logits = kernel.t() if options.transpose else kernel  # (d, V)
    to_hidden = kernel if options.transpose else kernel.t()  # (V, d)
    losses = torch.empty(tokens, dtype=f32, device=device)
    if with_grads:
        hidden_grad = torch.empty((tokens, depth), dtype=hidden.dtype, device=device)
        table_grad = torch.zeros(table.shape, dtype=f32, device=device)
        bias_grad = None if bias is None else torch.zeros_like(bias, dtype=f32)
    block = torch.empty((min(options.chunk_size, tokens), vocabulary_size), dtype=f32, device=device)
    bias_f32 = None if bias is None else bias.to(f32)
    for start in range(0, tokens, options.chunk_size):
        stop = min(start + options.chunk_size, tokens)
        hidden_chunk = hidden[start:stop].to(dtype)  # (C, d)
        labels_chunk = labels[start:stop].long()[:, None]  # (C, 1)
        coefficients_chunk = coefficients[start:stop]  # (C,)
        logits = block[: stop - start]
        if dtype == f32:
            torch.mm(hidden_chunk, to_logits, out=logits)
        else:
            logits.copy_(hidden_chunk @ to_logits)
        if bias_f32 is not None:
            logits += bias_f32
        capped = None
        if cap is not None:
            logits.div_(cap).tanh_().mul_(cap)
            # The cap's derivative needs the capped logits after the block is reused.
            capped = logits.clone() if with_grads else None
        target_logit = logits.gather(1, labels_chunk)[:, 0]
        mean_logit = logits.mean(dim=-1) if smoothing else None
        log_probs = torch.log_softmax(logits, dim=-1, out=logits)
        # log p_y = z_y - lse
        log_partition = target_logit - log_probs.gather(1, labels_chunk)[:, 0]
        # lse - (1 - s) z_y - s mean(z) == -(1 - s) log p_y - s mean(log p)
        loss = log_partition - (1.0 - smoothing) * target_logit
        if smoothing:
            loss -= smoothing * mean_logit
        if options.z_loss:
            loss += options.z_loss * log_partition.square()
        losses[start:stop] = torch.where(coefficients_chunk != 0, coefficients_chunk * loss, 0.0)
        if not with_grads:
            continue
        logits_grad = log_probs.exp_()  # softmax
        if options.z_loss:
            logits_grad.mul_((1.0 + 2.0 * options.z_loss * log_partition)[:, None])
        if smoothing:
            logits_grad.sub_(smoothing / vocabulary_size)
        logits_grad.scatter_add_(1, labels_chunk, torch.full_like(logits_grad[:, :1], smoothing - 1.0))
        if capped is not None:
            logits_grad.mul_(capped.div_(cap).square_().neg_().add_(1.0))
        row_scale = coefficients_chunk[:, None]
        if bias_grad is not None:
            bias_grad.addmv_(logits_grad.t(), coefficients_chunk)
        logits_grad_c = logits_grad if dtype == f32 else logits_grad.to(dtype)
        hidden_grad[start:stop] = (logits_grad_c @ to_hidden).mul_(row_scale)  # (C, d)
        scaled_hidden = (hidden_chunk * row_scale).to(dtype)
        if options.transpose:
            update = (logits_grad_c.t(), scaled_hidden)  # (V, C) @ (C, d)
        else:
            update = (scaled_hidden.t(), logits_grad_c)  # (d, C) @ (C, V)
        if dtype == f32:
            table_grad.addmm_(*update)
        else:
            table_grad += (update[0] @ update[1]).to(f32)
    if not with_grads:
        return losses, None
    grads = (
        hidden_grad,
        table_grad.to(table.dtype),
        None if bias is None else bias_grad.to(bias.dtype),
    )
    return losses, grads


class _FusedLoss(torch.autograd.Function):
    """Loss in forward; for scalar reductions the gradients too, scaled in backward."""

    @staticmethod
    def forward(ctx, hidden, table, bias, labels, coefficients, options, with_grads):
        ctx.options = options
        ctx.save_for_backward(hidden, table, bias, labels, coefficients)
        ctx.precomputed = None
        if options.per_token or not with_grads:
            losses, _ = _sweep(hidden, table, bias, labels, coefficients, options, False)
        else:
            losses, ctx.precomputed = _sweep(
                hidden, table, bias, labels, coefficients, options, True
            )
        return losses if options.per_token else losses.sum()

    @staticmethod
    def backward(ctx, upstream):
        if ctx.precomputed is not None:
            # Handed out once and scaled in place; a second backward recomputes.
            grads, ctx.precomputed = ctx.precomputed, None
            grads = tuple(None if g is None else g.mul_(upstream) for g in grads)
        else:
            hidden, table, bias, labels, coefficients = ctx.saved_tensors
            scaled = coefficients * upstream.to(coefficients.dtype)
            _, grads = _sweep(hidden, table, bias, labels, scaled, ctx.options, True)
        grads = tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))
        return grads + (None, None, None, None)


def fused_loss(hidden, table, bias, labels, coefficients, options):
    operands = (hidden, table) if bias is None else (hidden, table, bias)
    with_grads = torch.is_grad_enabled() and any(t.requires_grad for t in operands)
    return _FusedLoss.apply(hidden, table, bias, labels, coefficients, options, with_grads)
