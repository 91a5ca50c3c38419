"""`CLIPLoss`: CLIP's symmetric contrastive loss with a learnable temperature."""

import math

import keras
from keras import ops

from keras_embed._validation import check_positive_float
from keras_embed.losses.softmax import clip_loss


@keras.saving.register_keras_serializable(package="keras_embed")
class CLIPLoss(keras.layers.Layer):
    """CLIP's symmetric in-batch loss, holding its log-temperature as a weight.

    The logits are `exp(t) * cos(image_i, text_j)` with a trainable scalar `t`
    (initially `log(1 / initial_temperature)`); the scale is clamped at
    `max_logit_scale` (100, as in CLIP) so training cannot make it blow up.
    The loss is the mean of the image->text and text->image cross-entropies
    (Radford et al., 2021), in float32.

    Args:
        initial_temperature: starting temperature (CLIP: 0.07).
        max_logit_scale: the largest `1 / temperature` allowed.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        image_embeddings: `(batch, dim)`.
        text_embeddings: `(batch, dim)`; row i pairs with image row i.

    Returns:
        `(batch,)` float32 losses (add their mean with `add_loss`, or use as an output).

    Example:

    >>> import numpy as np
    >>> layer = CLIPLoss()
    >>> tuple(layer(np.eye(3, 4, dtype="float32"), np.eye(3, 4, dtype="float32")).shape)
    (3,)
    """

    def __init__(self, initial_temperature=0.07, max_logit_scale=100.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_temperature = check_positive_float("initial_temperature", initial_temperature)
        self.max_logit_scale = check_positive_float("max_logit_scale", max_logit_scale)

    def build(self, image_embeddings_shape=None, text_embeddings_shape=None):
        self.log_logit_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(1.0 / self.initial_temperature)),
            name="log_logit_scale",
            dtype="float32",
        )

    @property
    def logit_scale(self):
        return ops.minimum(ops.exp(self.log_logit_scale), self.max_logit_scale)

    def call(self, image_embeddings, text_embeddings):
        return clip_loss(image_embeddings, text_embeddings, self.logit_scale)

    def compute_output_shape(self, image_embeddings_shape, text_embeddings_shape=None):
        return (image_embeddings_shape[0],)

    def get_config(self):
        return {
            **super().get_config(),
            "initial_temperature": self.initial_temperature,
            "max_logit_scale": self.max_logit_scale,
        }
