"""Torch fast path of `keras_embed.ops.rope.rotation.apply_rope` (private).

Eager torch runs one kernel per op, each a full pass over memory; here the
rotation writes both halves of one preallocated output with `mul` + `addcmul_`
on views, and the backward pass is the same rotation by the opposite angle
instead of autograd's chain of slices, stacks and sums. Values equal the
portable path up to float rounding (`addcmul` may fuse a multiply-add).
"""

import torch


def materialize(tables):
    """Eager torch computes each table once already."""
    return tables


def applies(inputs, cos, sin):
    """Use the fast path unless a gradient must reach the angles themselves."""
    return (
        all(isinstance(tensor, torch.Tensor) for tensor in (inputs, cos, sin))
        and not cos.requires_grad
        and not sin.requires_grad
        and inputs.dtype == cos.dtype == sin.dtype
        and not torch.compiler.is_compiling()
    )


def _first_second(tensor, half, interleaved):
    """Views of the first and second member of every feature pair."""
    if interleaved:
        return tensor[..., 0 : 2 * half : 2], tensor[..., 1 : 2 * half : 2]
    return tensor[..., :half], tensor[..., half : 2 * half]


def _rotate(inputs, cos, sin, interleaved, direction):
    """Rotate by `direction * angle` (+1 forward, -1 for the transpose)."""
    half = cos.shape[-1]
    outputs = torch.empty_like(inputs)
    first, second = _first_second(inputs, half, interleaved)
    out_first, out_second = _first_second(outputs, half, interleaved)
    torch.mul(first, cos, out=out_first)
    out_first.addcmul_(second, sin, value=-direction)
    torch.mul(second, cos, out=out_second)
    out_second.addcmul_(first, sin, value=direction)
    if 2 * half < inputs.shape[-1]:
        outputs[..., 2 * half :] = inputs[..., 2 * half :]
    return outputs


class _Rotation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, cos, sin, interleaved):
        ctx.save_for_backward(cos, sin)
        ctx.interleaved = interleaved
        return _rotate(inputs, cos, sin, interleaved, 1.0)

    @staticmethod
    def backward(ctx, upstream):
        cos, sin = ctx.saved_tensors
        # A rotation's transpose is the rotation by the opposite angle.
        return _rotate(upstream.contiguous(), cos, sin, ctx.interleaved, -1.0), None, None, None


def apply_rope(inputs, cos, sin, interleaved):
    # Broadcast the tables' leading axes like the elementwise portable path does.
    if torch.is_grad_enabled() and inputs.requires_grad:
        return _Rotation.apply(inputs, cos, sin, interleaved)
    return _rotate(inputs, cos, sin, interleaved, 1.0)
