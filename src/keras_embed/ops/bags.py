"""Bags of embeddings: sum, mean, max or sqrt(n)-normalised sum of rows per bag.

The layer `keras_embed.layers.EmbeddingBag` looks rows up with
`keras_embed.ops.lookup.lookup_rows` and reduces them here. Bags come in
two forms, which share the per-position coefficients of `bag_coefficients`:

- padded: ids of shape `(bags, length)` with a validity mask of that shape;
- flat: ids of shape `(n,)` with the bag of each position
  (`offsets_to_bag_ids` derives it from torch-style offsets).

For `"sum"`, `"mean"` and `"sqrtn"` a bag is `sum_p c_p * row_p` with
`c_p = w_p / denominator`, where `w_p` is the position's weight (1 without
`per_sample_weights`, 0 for excluded positions) and the denominator is 1,
`sum_p w_p` or `sqrt(sum_p w_p**2)`: the rule of TF's
`safe_embedding_lookup_sparse`, which with unit weights is torch's
`nn.EmbeddingBag`. A bag whose denominator is 0 (an empty bag) is all zeros.
"""

from keras import ops

from keras_embed.ops.lookup import in_range

COMBINERS = ("sum", "mean", "max", "sqrtn")


def _denominator(combiner, weights, totals):
    """Per-bag denominators from `totals(x)`, the per-bag sum of `x`."""
    if combiner == "sum":
        return None
    if combiner == "mean":
        return totals(weights)
    return ops.sqrt(totals(ops.square(weights)))


def _divide_or_zero(numerator, denominator):
    safe = ops.where(ops.equal(denominator, 0.0), ops.ones_like(denominator), denominator)
    return ops.where(ops.equal(denominator, 0.0), ops.zeros_like(numerator), numerator / safe)


def bag_coefficients(combiner, valid, per_sample_weights=None, bag_ids=None, num_bags=None):
    """The coefficient `c_p` of every position (0 where `valid` is False), float32.

    Args:
        combiner: `"sum"`, `"mean"` or `"sqrtn"`.
        valid: bool tensor, `(bags, length)` (padded) or `(n,)` (flat).
        per_sample_weights: float tensor of the shape of `valid`, or `None`.
        bag_ids: for the flat form, int tensor `(n,)`: the bag of each position.
        num_bags: for the flat form, the number of bags.

    Returns:
        float32 tensor of the shape of `valid`.
    """
    weights = ops.cast(valid, "float32")
    if per_sample_weights is not None:
        weights = ops.multiply(weights, ops.cast(per_sample_weights, "float32"))
    if bag_ids is None:
        totals = lambda x: ops.sum(x, axis=-1, keepdims=True)  # noqa: E731
        spread = lambda x: x  # noqa: E731
    else:
        totals = lambda x: ops.segment_sum(x, bag_ids, num_segments=num_bags)  # noqa: E731
        spread = lambda x: ops.take(x, bag_ids, axis=0)  # noqa: E731
    denominator = _denominator(combiner, weights, totals)
    if denominator is None:
        return weights
    return _divide_or_zero(weights, spread(denominator))


def combine_padded(rows, valid, combiner, per_sample_weights=None):
    """Reduce padded bags: rows `(bags, length, d)`, valid `(bags, length)` -> `(bags, d)`.

    Excluded positions (`valid` False) take no part; empty bags give zeros.
    Sums run in float32 and the result has the dtype of `rows`.
    """
    if combiner == "max":
        return _masked_max(rows, ops.expand_dims(valid, -1), axis=-2)
    coefficients = bag_coefficients(combiner, valid, per_sample_weights)
    bags = ops.sum(ops.expand_dims(coefficients, -1) * ops.cast(rows, "float32"), axis=-2)
    return ops.cast(bags, rows.dtype)


def combine_flat(rows, valid, bag_ids, num_bags, combiner, per_sample_weights=None):
    """Reduce flat bags: rows `(n, d)`, valid and bag_ids `(n,)` -> `(num_bags, d)`."""
    if combiner == "max":
        floor = ops.cast(float("-inf"), rows.dtype)
        masked = ops.where(ops.expand_dims(valid, -1), rows, floor)
        bags = ops.segment_max(masked, bag_ids, num_segments=num_bags)
        # Empty segments hold -inf or the lowest float, depending on the backend.
        members = ops.segment_sum(ops.cast(valid, "int32"), bag_ids, num_segments=num_bags)
        return ops.where(ops.expand_dims(members > 0, -1), bags, ops.zeros_like(bags))
    coefficients = bag_coefficients(combiner, valid, per_sample_weights, bag_ids, num_bags)
    weighted = ops.multiply(ops.cast(rows, "float32"), ops.expand_dims(coefficients, -1))
    bags = ops.segment_sum(weighted, bag_ids, num_segments=num_bags)
    return ops.cast(bags, rows.dtype)


def _masked_max(rows, valid, axis):
    floor = ops.cast(float("-inf"), rows.dtype)
    bags = ops.max(ops.where(valid, rows, floor), axis=axis)
    return ops.where(ops.isfinite(bags), bags, ops.zeros_like(bags))


def offsets_to_bag_ids(offsets, num_ids, include_last_offset=False):
    """Torch-style `offsets` -> `(bag_ids, in_bag, num_bags)` for `num_ids` flat ids.

    Bag `b` holds positions `offsets[b] <= p < offsets[b + 1]`; the last bag runs
    to the end, or, with `include_last_offset=True`, `offsets` has one more entry
    closing the last bag and positions at or after it belong to no bag
    (`in_bag` False). Position `p` goes to bag `(number of offsets <= p) - 1`:
    the same for sorted offsets, and a defined answer (offsets taken in sorted
    order, those past the end giving empty bags) inside compiled functions,
    where unsorted offsets cannot be rejected.

    Args:
        offsets: int tensor `(bags,)`, or `(bags + 1,)` with `include_last_offset`.
        num_ids: the number of flat ids (static int).
        include_last_offset: bool.

    Returns:
        `bag_ids` int32 `(num_ids,)` (clipped into `[0, num_bags)`), `in_bag` bool
        `(num_ids,)`, and `num_bags` (static int).
    """
    offsets = ops.clip(ops.cast(offsets, "int32"), 0, num_ids)
    num_bags = offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]
    # starts[p]: how many offsets equal p; its running sum counts offsets <= p.
    starts = ops.segment_sum(ops.ones_like(offsets), offsets, num_segments=num_ids + 1)
    bag_ids = ops.subtract(ops.cumsum(starts[:num_ids]), 1)
    in_bag = in_range(bag_ids, num_bags)
    bag_ids = ops.clip(bag_ids, 0, max(num_bags - 1, 0))
    return ops.cast(bag_ids, "int32"), in_bag, num_bags
