"""Embedding and EmbeddingBag forward + backward (the gradient of the table) against peers.

- `Embedding` vs `keras.layers.Embedding` with the same table and ids (parity expected).
- `EmbeddingBag` (4096 bags of 20 ids, V=1M, d=64, mean) vs torch `nn.EmbeddingBag` on the
  torch backend, and vs `take` + masked mean on JAX and TensorFlow.

Each step is compiled the way training runs it (jax.jit, tf.function with XLA, eager torch)
and returns the table gradient, so both sides pay for the same (V, d) dense gradient.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import HEADER, benchmark_parser, paired_median_ms, row  # noqa: E402

from keras_embed.layers import Embedding, EmbeddingBag  # noqa: E402


def gradient_step(forward, table):
    """`ids -> d(sum(forward(table, ids) * probe)) / d table`, compiled for the backend."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        @jax.jit
        def step(table_value, ids):
            return jax.grad(lambda t: (forward(t, ids) * 0.5).sum())(table_value)

        return lambda ids: step(table, ids)
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(ids):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(forward(table, ids) * 0.5)
            return tf.convert_to_tensor(tape.gradient(loss, table))

        return step

    def torch_step(ids):
        table.grad = None
        (forward(table, ids) * 0.5).sum().backward()
        return table.grad

    return torch_step


def layer_forward(layer, **call_kwargs):
    """`(table, ids) -> layer(ids)` with `table` standing for the layer's table."""
    if keras.config.backend() == "jax":
        return lambda table, ids: layer.stateless_call([table], [], ids, **call_kwargs)[0]
    return lambda table, ids: layer(ids, **call_kwargs)


def table_of(layer):
    """The table as the backend's gradient machinery takes it (array, tf.Variable, Parameter)."""
    return layer.embeddings.value


def bench_embedding(args, rng):
    rows, width = (1000, 16) if args.quick else (100_000, 128)
    batch, length = (4, 8) if args.quick else (64, 256)
    ids = keras.ops.convert_to_tensor(rng.integers(0, rows, size=(batch, length)).astype("int32"))
    ours, peer = Embedding(rows, width), keras.layers.Embedding(rows, width)
    ours.build()
    peer.build()
    peer.embeddings.assign(ours.embeddings)
    ours_step = gradient_step(layer_forward(ours), table_of(ours))
    peer_step = gradient_step(layer_forward(peer), table_of(peer))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours_step(ids)), keras.ops.convert_to_numpy(peer_step(ids)), rtol=1e-6
    )
    ours_ms, peer_ms = paired_median_ms(ours_step, peer_step, ids, repeats=5 if args.quick else 21)
    name = f"Embedding fwd+bwd vs keras.layers.Embedding ({batch}x{length} ids, V={rows}, d={width})"
    print(row(name, ours_ms, peer_ms), flush=True)


def masked_mean_forward(table, ids):
    """The hand-written peer: take every row, zero the padding (id 0), divide by the count."""
    ops = keras.ops
    keep = ops.cast(ops.not_equal(ids, 0), "float32")
    rows = ops.take(table, ids, axis=0) * ops.expand_dims(keep, -1)
    return ops.sum(rows, axis=1) / ops.maximum(ops.sum(keep, axis=1, keepdims=True), 1.0)


def bench_embedding_bag(args, rng):
    rows, width = (10_000, 16) if args.quick else (1_000_000, 64)
    bags, length = (64, 20) if args.quick else (4096, 20)
    ids_np = rng.integers(1, rows, size=(bags, length)).astype("int32")
    ids_np[:, 15:][rng.random((bags, 5)) < 0.5] = 0  # ragged bags: padding id 0 at the end
    ids = keras.ops.convert_to_tensor(ids_np)
    ours = EmbeddingBag(rows, width, combiner="mean", padding_idx=0)
    ours.build()
    ours_step = gradient_step(layer_forward(ours), table_of(ours))
    shape = f"{bags} bags x {length} ids, V={rows}, d={width}, mean"
    if keras.config.backend() == "torch":
        import torch

        peer_module = torch.nn.EmbeddingBag(rows, width, mode="mean", padding_idx=0)
        with torch.no_grad():
            peer_module.weight.copy_(ours.embeddings.value)
        peer_step = gradient_step(lambda table, ids: peer_module(ids.long()), peer_module.weight)
        peer_ids = ids.long()
        name = f"EmbeddingBag fwd+bwd vs torch nn.EmbeddingBag ({shape})"
        check = (ours_step(ids), peer_step(peer_ids))
        ours_ms, peer_ms = paired_median_ms(
            lambda _: ours_step(ids), lambda _: peer_step(peer_ids), None, repeats=5 if args.quick else 15
        )
    else:
        peer_step = gradient_step(masked_mean_forward, table_of(ours))
        name = f"EmbeddingBag fwd+bwd vs take + masked mean ({shape})"
        check = (ours_step(ids), peer_step(ids))
        ours_ms, peer_ms = paired_median_ms(ours_step, peer_step, ids, repeats=5 if args.quick else 15)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(check[0]), keras.ops.convert_to_numpy(check[1]), rtol=1e-4, atol=1e-7
    )
    print(row(name, ours_ms, peer_ms), flush=True)


def main(argv=None):
    args = benchmark_parser().parse_args(argv)
    if not args.no_header:
        print(HEADER)
    rng = np.random.default_rng(0)
    bench_embedding(args, rng)
    bench_embedding_bag(args, rng)


if __name__ == "__main__":
    main()
