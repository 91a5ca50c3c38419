"""Torch kernels for row-sparse optimizer steps (private; chosen by `_backend.row_sparse_kernels`).

The portable step (`row_sparse.decode_row_gradients`, `sum_duplicate_rows`,
then `gather_rows` / `scatter_rows` per slot) keeps every shape static so
that JAX compiles it; in torch's eager mode each of its ~100 small ops pays
dispatch instead. Here the ids are decoded and made distinct once
(`torch.unique`, `index_add_`: shapes follow the data), and each update
gathers its rows with the embedding kernel, computes in place on the gathered
copies, and writes them back with `index_add_` (or `index_copy_`) into the
variables' own tensors. The formulas are the portable ones, operation for operation where
the rounding could differ.
"""

import torch


def distinct_row_gradients(packed, num_rows, code_base, update_step=None):
    """`(ids, rows)`: each id a carrier gradient codes, once, with its rows summed.

    Args:
        packed: float tensor `(m, d + 3)`, one or several stacked carrier gradients.
        num_rows: the table's row count `V`.
        code_base: `row_sparse.CODE_BASE`, the base of the ids' two-column code
            (passed in: `row_sparse` imports the module that chooses this one).
        update_step: optional bool scalar tensor; False gives no ids at all.

    Returns:
        `ids` int64 `(k,)` distinct, sorted, in `[0, V)`; `rows` float32 `(k, d)`.
    """
    # The code's three columns: high half, low half, marker.
    width = packed.shape[-1] - 3
    packed = packed.float()
    marker = packed[:, width + 2]
    present = marker != 0
    code = torch.round(packed[:, width : width + 2] / torch.where(present, marker, 1.0)[:, None])
    shifted = (code[:, 0] * code_base + code[:, 1]).long()
    keep = present & (shifted > 0) & (shifted <= num_rows)
    if update_step is not None:
        keep &= update_step
    # Dropped positions sum into id -1, sorted first and cut off: no masked copies of the rows.
    ids, inverse = torch.unique(torch.where(keep, shifted - 1, -1), return_inverse=True)
    # index_add_ reads a contiguous source about twice as fast as the strided column slice.
    sources = packed[:, :width].contiguous()
    rows = packed.new_zeros((ids.shape[0], width)).index_add_(0, inverse, sources)
    if ids.shape[0] and ids[0] < 0:
        return ids[1:], rows[1:]
    return ids, rows


class _CarrierTap(torch.autograd.Function):
    """`rows` unchanged, and a zero loss; their gradients go to the carrier's rows.

    The portable `row_sparse.carrier_rows` computes `rows + (c - sg(c))[:, :d]`
    and `sum((c - sg(c))[:, d:] * code)`; this node gives the same values and
    the same carrier gradient: the rows' gradient in `[first, first + n)`, the
    ids' code times the loss term's gradient in the last three columns.
    """

    @staticmethod
    def forward(ctx, rows, carrier, code, first_slot):
        ctx.carrier_shape = carrier.shape
        ctx.first_slot = first_slot
        ctx.save_for_backward(code)
        return rows.clone(), rows.new_zeros((), dtype=torch.float32)

    @staticmethod
    def backward(ctx, rows_grad, code_loss_grad):
        (code,) = ctx.saved_tensors
        first, count = ctx.first_slot, code.shape[0]
        width = ctx.carrier_shape[1] - code.shape[1]
        carrier_grad = code.new_zeros(ctx.carrier_shape)
        used = carrier_grad[first : first + count]
        if rows_grad is not None:
            used[:, :width] = rows_grad
        if code_loss_grad is not None:
            torch.mul(code, code_loss_grad, out=used[:, width:])
        return rows_grad, carrier_grad, None, None


def carrier_tapped_rows(rows, carrier, ids, updates, first_slot, code_base):
    """`(rows, code_loss)` as `row_sparse.carrier_rows` returns them, in one autograd node."""
    shifted = torch.where(updates, ids.long() + 1, 0)
    high = torch.div(shifted, code_base, rounding_mode="floor")
    code = torch.stack([high, shifted - high * code_base, torch.ones_like(shifted)], dim=-1)
    return _CarrierTap.apply(rows, carrier, code.float(), first_slot)


def _tensor(variable):
    return variable.value


def _rows(tensor, ids):
    # The embedding kernel gathers rows faster than index_select on CPU.
    return torch.nn.functional.embedding(ids, tensor)


def _scalar(value, like):
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _decayed(values, lr, weight_decay):
    if weight_decay is not None:
        values.sub_(values * weight_decay * lr)
    return values


@torch.no_grad()
def sgd_rows(table, momentum_slot, ids, gradients, lr, momentum, nesterov, weight_decay=None):
    """Keras' SGD on rows `ids` of `table` (and of `momentum_slot`, when momentum is not 0)."""
    weights = _tensor(table)
    lr = _scalar(lr, weights)
    values = _decayed(_rows(weights, ids), lr, weight_decay)
    if momentum_slot is None:
        weights.index_copy_(0, ids, values.sub_(gradients * lr))
        return
    slot = _tensor(momentum_slot)
    velocity = _rows(slot, ids).mul_(momentum).sub_(gradients * lr)
    slot.index_copy_(0, ids, velocity)
    if nesterov:
        values.add_(velocity * momentum - gradients * lr)
    else:
        values.add_(velocity)
    weights.index_copy_(0, ids, values)


@torch.no_grad()
def adagrad_rows(table, accumulator_slot, ids, gradients, lr, epsilon, weight_decay=None):
    """Keras' Adagrad on rows `ids` of `table` and of its accumulator."""
    weights = _tensor(table)
    slot = _tensor(accumulator_slot)
    lr = _scalar(lr, weights)
    values = _decayed(_rows(weights, ids), lr, weight_decay)
    accumulator = _rows(slot, ids).add_(gradients.square())
    slot.index_copy_(0, ids, accumulator)
    values.sub_((lr * gradients).div_((accumulator + epsilon).sqrt_()))
    weights.index_copy_(0, ids, values)


@torch.no_grad()
def adam_rows(table, slots, ids, gradients, lr, step, beta_1, beta_2, epsilon, weight_decay=None):
    """Lazy Adam on rows `ids` of `table` and of `slots` (`(m, v)` or `(m, v, v_max)`).

    `step` is the 1-based global step; the formulas are `lazy_adam_rows'`.
    Moments (and the table, without weight decay) take their change by
    `index_add_`, which on CPU writes rows about twice as fast as
    `index_copy_` and gives the same sums (`w + (-s)` is `w - s` exactly).
    """
    weights = _tensor(table)
    first_slot, second_slot = _tensor(slots[0]), _tensor(slots[1])
    lr = _scalar(lr, weights)
    step = _scalar(step, weights)
    alpha = lr * torch.sqrt(1 - torch.pow(beta_2, step)) / (1 - torch.pow(beta_1, step))
    first = _rows(first_slot, ids)
    first_change = (gradients - first).mul_(1 - beta_1)
    first_slot.index_add_(0, ids, first_change)
    first.add_(first_change)
    second = _rows(second_slot, ids)
    second_change = (gradients.square() - second).mul_(1 - beta_2)
    second_slot.index_add_(0, ids, second_change)
    second.add_(second_change)
    if len(slots) == 3:
        maximum_slot = _tensor(slots[2])
        second = torch.maximum(_rows(maximum_slot, ids), second)
        maximum_slot.index_copy_(0, ids, second)
    change = (first * alpha).div_(second.sqrt_().add_(epsilon))
    if weight_decay is None:
        weights.index_add_(0, ids, change.neg_())
        return
    values = _decayed(_rows(weights, ids), lr, weight_decay)
    weights.index_copy_(0, ids, values.sub_(change))
