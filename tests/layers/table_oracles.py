"""torch `nn.Embedding` / `nn.EmbeddingBag` as oracles, and one SGD step on each side.

torch is imported here only, inside the tests, whatever the Keras backend.
"""

import keras
import numpy as np
from embed_testing import to_numpy


def torch_module(kind, weights, **kwargs):
    """A torch `nn.Embedding` or `nn.EmbeddingBag` holding a copy of `weights`."""
    import torch

    module_class = {"embedding": torch.nn.Embedding, "bag": torch.nn.EmbeddingBag}[kind]
    module = module_class(*weights.shape, **kwargs)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(np.array(weights, dtype="float32")))
    return module


def torch_forward(module, ids, **call_kwargs):
    import torch

    tensors = {
        key: torch.from_numpy(np.asarray(value)) for key, value in call_kwargs.items() if value is not None
    }
    return module(torch.from_numpy(np.asarray(ids)).long(), **tensors).detach().numpy()


def torch_sgd_step(module, ids, targets, learning_rate):
    """The table after one SGD step on the mean squared error to `targets`."""
    import torch

    optimizer = torch.optim.SGD(module.parameters(), lr=learning_rate)
    outputs = module(torch.from_numpy(np.asarray(ids)).long())
    torch.nn.functional.mse_loss(outputs, torch.from_numpy(targets)).backward()
    optimizer.step()
    return module.weight.detach().numpy().copy()


def keras_sgd_step(layer, ids, targets, learning_rate):
    """The table after one `model.fit` SGD step on the mean squared error to `targets`.

    keras' `"mse"` averages over every element, as torch's `mse_loss` does.
    """
    inputs = keras.Input(ids.shape[1:], dtype="int32")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    model.fit(ids, targets, batch_size=len(ids), epochs=1, shuffle=False, verbose=0)
    return to_numpy(layer.embeddings)


def torch_bag_via_embedding(weights, mode, padding_idx=None, scale_grad_by_freq=False):
    """Padded bags as torch `nn.Embedding` + a masked sum or mean, for the gradient rule.

    torch 2.13's CPU `embedding_bag` divides by the wrong count under
    `scale_grad_by_freq` (pytorch/pytorch#190063); `nn.Embedding`'s rule is the
    documented one, so bags built on it are the oracle for that flag.
    """
    import torch

    embedding = torch_module(
        "embedding", weights, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq
    )

    class Bags(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = embedding
            self.weight = embedding.weight

        def forward(self, ids):
            keep = torch.ones_like(ids, dtype=torch.float32)
            if padding_idx is not None:
                keep = (ids != padding_idx).float()
            total = (self.embedding(ids) * keep[..., None]).sum(1)
            if mode == "sum":
                return total
            return total / keep.sum(1, keepdim=True).clamp(min=1)

    return Bags()
