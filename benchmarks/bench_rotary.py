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

and, peer-free, `MultimodalRotaryEmbedding` (Qwen2-VL M-RoPE at Qwen2-VL positions of a
prompt with an image) against our own `RotaryEmbedding` with `(batch, seq)` positions on the
same shape, forward+backward as above: the cost of the third axis.

keras-hub is a bench-only extra; without it the keras-hub rows are skipped.
`--quick` runs tiny shapes in a few seconds (a smoke test).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import HEADER, paired_median_ms, row, benchmark_parser  # noqa: E402

from keras_embed.layers.multimodal_rotary_embedding import MultimodalRotaryEmbedding  # noqa: E402
from keras_embed.layers.rotary_embedding import RotaryEmbedding  # noqa: E402
from keras_embed.ops import multimodal_positions  # noqa: E402


def forward_backward(layer):
    """`(inputs, upstream, positions=None) -> (outputs, d<outputs, upstream>/d inputs)`."""
    backend = keras.config.backend()

    def apply(inputs, positions):
        return layer(inputs) if positions is None else layer(inputs, positions=positions)

    if backend == "jax":
        import jax

        def step(inputs, upstream, positions=None):
            outputs, pullback = jax.vjp(lambda x: apply(x, positions), inputs)
            return outputs, pullback(upstream)[0]

        return jax.jit(step)
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(inputs, upstream, positions=None):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = apply(inputs, positions)
            return outputs, tape.gradient(outputs, inputs, output_gradients=upstream)

        return step

    def step(inputs, upstream, positions=None):
        inputs = inputs.detach().requires_grad_(True)
        outputs = apply(inputs, positions)
        outputs.backward(upstream)
        return outputs, inputs.grad

    return step


def image_prompt_positions(batch, sequence):
    """`(3, batch, seq)` M-RoPE positions: text, a square image of ~half the tokens, text."""
    side = int((sequence // 2) ** 0.5)
    text = (sequence - side * side) // 2
    types = np.array([[0] * text + [1] * side * side + [0] * (sequence - text - side * side)] * batch)
    # Each row its own image (the grids are used in order across the batch).
    positions, _ = multimodal_positions(types, image_grids=[[1, 2 * side, 2 * side]] * batch)
    return positions


def multimodal_rows(args, shape, inputs, upstream, repeats):
    """M-RoPE forward+backward vs our RotaryEmbedding with (batch, seq) positions."""
    batch, sequence, _, head_dim = shape
    unit = head_dim // 16  # Qwen2-VL's [16, 24, 24] at head_dim 128, scaled
    mrope = MultimodalRotaryEmbedding([2 * unit, 3 * unit, 3 * unit], max_wavelength=1e6)
    plain = RotaryEmbedding(max_wavelength=1e6, rope_type="default")
    mrope_positions = keras.ops.convert_to_tensor(image_prompt_positions(batch, sequence))
    plain_positions = keras.ops.convert_to_tensor(
        np.broadcast_to(np.arange(sequence, dtype="int32"), (batch, sequence)).copy())
    ours, peer = forward_backward(mrope), forward_backward(plain)
    ours_call = lambda x, g: ours(x, g, mrope_positions)  # noqa: E731
    rows = []
    for label, peer_call in (
        ("(batch, seq) positions", lambda x, g: peer(x, g, plain_positions)),
        ("default positions (one table for the batch)", peer),
    ):
        ours_ms, peer_ms = paired_median_ms(ours_call, peer_call, inputs, upstream, repeats=repeats)
        rows.append(row(f"MultimodalRotaryEmbedding forward+backward {shape} vs our "
                        f"RotaryEmbedding, {label}", ours_ms, peer_ms))
        print(rows[-1], flush=True)
    return rows


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
    batch, sequence, heads, head_dim = (2, 64, 2, 32) if args.quick else (4, 2048, 16, 128)
    repeats = 3 if args.quick else int(os.environ.get("BENCH_REPEATS", 15))
    start_index = sequence - 1
    rng = np.random.default_rng(0)
    shape = (batch, sequence, heads, head_dim)
    inputs = keras.ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
    upstream = keras.ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))
    step_inputs = keras.ops.convert_to_tensor(
        rng.standard_normal((batch, 1, heads, head_dim)).astype("float32"))
    index = (keras.ops.convert_to_tensor(start_index, "int32")
             if keras.config.backend() != "torch" else start_index)

    if not args.no_header:
        print(HEADER)
    rows = multimodal_rows(args, shape, inputs, upstream, repeats)
    try:
        from keras_hub.layers import RotaryEmbedding as PeerRotaryEmbedding
    except ImportError:
        print("bench_rotary: keras-hub is not installed (pip install -e '.[bench]'); "
              "keras-hub rows skipped.")
        return rows
    ours, peer = RotaryEmbedding(), PeerRotaryEmbedding()
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
