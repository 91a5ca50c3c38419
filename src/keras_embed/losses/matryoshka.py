"""`MatryoshkaLoss`: any embedding loss over nested prefixes of the embeddings."""

from keras_embed._validation import check_callable, check_integer_list, check_positive_float


class MatryoshkaLoss:
    """A weighted sum of `loss` over the first `d` features, for each `d` of `dims`.

    Matryoshka representation learning (Kusupati et al., 2022) trains every
    prefix of an embedding to work on its own, so it can be truncated after
    training: `sum_i weights[i] * loss(a[..., :dims[i]], b[..., :dims[i]], ...)`.

    Args:
        loss: a callable `loss(a, b, *rest) -> (batch,)` over two embedding
            tensors, such as `info_nce_loss`, `in_batch_softmax_loss` or a `CLIPLoss` layer.
        dims: increasing positive prefix sizes.
        weights: one weight per prefix (default: all 1).

    Example:

    >>> import numpy as np
    >>> from keras_embed.losses import info_nce_loss
    >>> loss = MatryoshkaLoss(info_nce_loss, dims=(2, 4))
    >>> tuple(loss(np.eye(3, 4, dtype="float32"), np.eye(3, 4, dtype="float32")).shape)
    (3,)
    """

    def __init__(self, loss, dims, weights=None):
        check_callable("loss", loss)
        dims = tuple(check_integer_list("dims", dims, increasing=True))
        weights = (1.0,) * len(dims) if weights is None else tuple(weights)
        if len(weights) != len(dims):
            raise ValueError(
                f"`weights` must hold one weight per dim ({len(dims)}). Received: weights={weights}."
            )
        self.loss = loss
        self.dims = dims
        self.weights = tuple(check_positive_float("weights", float(w)) for w in weights)

    def __call__(self, first, second, *rest, **kwargs):
        width = first.shape[-1]
        if width is not None and self.dims[-1] > width:
            raise ValueError(
                f"`dims` must not exceed the embedding size {width}. Received: dims={self.dims}."
            )
        total = 0.0
        for dim, weight in zip(self.dims, self.weights):
            total = total + weight * self.loss(first[..., :dim], second[..., :dim], *rest, **kwargs)
        return total
