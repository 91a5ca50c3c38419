"""Training losses for embedding models: sampled and in-batch softmax, InfoNCE, CLIP, Matryoshka,
word2vec's hierarchical softmax.

Public names load on first use; `AliasSampler` is numpy only and loads no backend.
"""

from keras_embed._lazy import lazy_exports

_PUBLIC = {
    "sampled_softmax_loss": "keras_embed.losses.softmax",
    "in_batch_softmax_loss": "keras_embed.losses.softmax",
    "info_nce_loss": "keras_embed.losses.softmax",
    "clip_loss": "keras_embed.losses.softmax",
    "negative_sampling_loss": "keras_embed.losses.softmax",
    "hierarchical_softmax_loss": "keras_embed.losses.hierarchical_softmax",
    "InBatchSoftmaxLoss": "keras_embed.losses.softmax",
    "CLIPLoss": "keras_embed.losses.clip",
    "MatryoshkaLoss": "keras_embed.losses.matryoshka",
    "AliasSampler": "keras_embed.losses.alias_sampler",
}

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
