"""Training losses for embedding models: sampled and in-batch softmax, InfoNCE, CLIP, Matryoshka.

Public names load on first use; `AliasSampler` is numpy only and loads no backend.
"""

import importlib

_PUBLIC = {
    "sampled_softmax_loss": "keras_embed.losses.softmax",
    "in_batch_softmax_loss": "keras_embed.losses.softmax",
    "info_nce_loss": "keras_embed.losses.softmax",
    "clip_loss": "keras_embed.losses.softmax",
    "negative_sampling_loss": "keras_embed.losses.softmax",
    "InBatchSoftmaxLoss": "keras_embed.losses.softmax",
    "CLIPLoss": "keras_embed.losses.clip",
    "MatryoshkaLoss": "keras_embed.losses.matryoshka",
    "AliasSampler": "keras_embed.losses.alias_sampler",
}


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_embed.losses' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))
