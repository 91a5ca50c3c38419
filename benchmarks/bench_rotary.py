"""RotaryEmbedding: ours vs keras_hub.layers.RotaryEmbedding, same inputs, one process.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_rotary.py [--quick]

Two benchmarks, each timed call by call in alternation with the peer (paired medians):

- forward+backward of `rotary(x)` for x of shape (batch 4, seq 2048, heads 16, head_dim 128)
  float32, with an upstream gradient: `jax.jit` of the vector-Jacobian product on JAX,
  `tf.function(jit_compile=True)` around a GradientTape on TensorFlow, eager autograd on
  torch (how `model.fit` runs each backend by default);
- one cached decoding step, x of shape (4, 1, 16, 128) at `start_index` 2047, compiled
  with a traced `start_index` on JAX and TensorFlow (as a generation loop runs it), eager
  under `no_grad` on torch.

keras-hub is a bench-only extra; without it the script says so and prints nothing.
`--quick` runs tiny shapes in a few seconds (a smoke test).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import HEADER, paired_median_ms, row, benchmark_parser  # noqa: E402

from keras_embed.layers.rotary_embedding import RotaryEmbedding  # noqa: E402


def forward_backward(layer):
    """`(inputs, upstream) -> (layer(inputs), d<layer(inputs), upstream>/d inputs)`."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        def step(inputs, upstream):
            outputs, pullback = jax.vjp(layer, inputs)
            return outputs, pullback(upstream)[0]

        return jax.jit(step)
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(inputs, upstream):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = layer(inputs)
            return outputs, tape.gradient(outputs, inputs, output_gradients=upstream)

        return step

    def step(inputs, upstream):
        inputs = inputs.detach().requires_grad_(True)
        outputs = layer(inputs)
        outputs.backward(upstream)
        return outputs, inputs.grad

    return step


def decode_step(layer):
    """`(inputs, start_index) -> layer(inputs, start_index=start_index)`, compiled where it can be."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return jax.jit(lambda inputs, index: layer(inputs, start_index=index))
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda inputs, index: layer(inputs, start_index=index), jit_compile=True)
    import torch

    def step(inputs, index):
        with torch.no_grad():
            return layer(inputs, start_index=index)

    return step


def main(argv=None):
    """Print (and return) one markdown table row per benchmark."""
    parser = benchmark_parser()
    args = parser.parse_args(argv)
    try:
        from keras_hub.layers import RotaryEmbedding as PeerRotaryEmbedding
    except ImportError:
        print("bench_rotary: keras-hub is not installed (pip install -e '.[bench]'); skipped.")
        return []
    batch, sequence, heads, head_dim = (2, 64, 2, 32) if args.quick else (4, 2048, 16, 128)
    repeats = 3 if args.quick else 15
    start_index = sequence - 1
    rng = np.random.default_rng(0)
    shape = (batch, sequence, heads, head_dim)
    inputs = keras.ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
    upstream = keras.ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
    step_inputs = keras.ops.convert_to_tensor(
        rng.standard_normal((batch, 1, heads, head_dim)).astype("float32"))
    index = (keras.ops.convert_to_tensor(start_index, "int32")
             if keras.config.backend() != "torch" else start_index)
    ours, peer = RotaryEmbedding(), PeerRotaryEmbedding()

    rows = []
    if not args.no_header:
        print(HEADER)
    for name, make, arguments in (
        (f"RotaryEmbedding forward+backward {shape} float32", forward_backward, (inputs, upstream)),
        (f"RotaryEmbedding decode step (seq 1, start_index {start_index})", decode_step,
         (step_inputs, index)),
    ):
        ours_call, peer_call = make(ours), make(peer)
        # Same numbers first: a fast wrong answer is not a result.
        for mine, theirs in zip(keras.tree.flatten(ours_call(*arguments)),
                                keras.tree.flatten(peer_call(*arguments))):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(mine),
                                       keras.ops.convert_to_numpy(theirs), atol=1e-3, rtol=0)
        ours_ms, peer_ms = paired_median_ms(ours_call, peer_call, *arguments, repeats=repeats)
        rows.append(row(name, ours_ms, peer_ms))
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
