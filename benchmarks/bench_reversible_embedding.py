"""ReversibleEmbedding forward and reverse: ours vs keras.layers.ReversibleEmbedding.

Both layers get the same table and inputs in one process; each call is compiled the way
training code runs it (jax.jit, tf.function with XLA, eager torch under no_grad).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import HEADER, compile_layer_call, paired_median_ms, row, benchmark_parser  # noqa: E402

from keras_embed.layers import ReversibleEmbedding  # noqa: E402


def main(argv=None):
    parser = benchmark_parser()
    args = parser.parse_args(argv)
    vocabulary, width = (1000, 64) if args.quick else (32000, 512)
    batch, sequence = (2, 16) if args.quick else (8, 512)
    rng = np.random.default_rng(0)
    ids = keras.ops.convert_to_tensor(rng.integers(0, vocabulary, size=(batch, sequence)).astype("int32"))
    hidden = keras.ops.convert_to_tensor(rng.normal(size=(1, sequence, width)).astype("float32"))

    ours = ReversibleEmbedding(vocabulary, width)
    peer = keras.layers.ReversibleEmbedding(vocabulary, width)
    ours.build()
    peer.build()
    peer.embeddings.assign(ours.embeddings)

    if not args.no_header:
        print(HEADER)
    shape = f"V={vocabulary}, d={width}"
    for name, kwargs, inputs in (
        (f"ReversibleEmbedding forward ({batch}x{sequence} ids, {shape})", {}, ids),
        (f"ReversibleEmbedding reverse (1x{sequence} states, {shape})", {"reverse": True}, hidden),
    ):
        ours_call = compile_layer_call(ours, **kwargs)
        peer_call = compile_layer_call(peer, **kwargs)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours_call(inputs)),
            keras.ops.convert_to_numpy(peer_call(inputs)), rtol=1e-5, atol=1e-5,
        )
        ours_ms, peer_ms = paired_median_ms(ours_call, peer_call, inputs, repeats=5 if args.quick else 21)
        print(row(name, ours_ms, peer_ms))


if __name__ == "__main__":
    main()
