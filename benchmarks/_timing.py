"""Timing helpers shared by the benchmark scripts: warm-up, then the median of repeats."""

import argparse
import statistics
import time

import keras


def block(result):
    """Wait until the backend has really computed `result`."""
    for value in keras.tree.flatten(result):
        if hasattr(value, "block_until_ready"):
            value.block_until_ready()
        elif hasattr(value, "numpy") and keras.config.backend() == "tensorflow":
            value.numpy()
    return result


def median_ms(fn, *args, repeats=10, warmup=2):
    """Median wall time of `fn(*args)` in milliseconds, after `warmup` calls."""
    for _ in range(warmup):
        block(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(fn(*args))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def paired_median_ms(first, second, *args, repeats=15, warmup=2):
    """Median times of two functions timed call by call in alternation.

    Alternating single calls (and swapping which goes first each round) keeps load
    from other processes and allocator warm-up from favouring either side.
    """
    for _ in range(warmup):
        block(first(*args))
        block(second(*args))
    times = ([], [])
    for round_index in range(repeats):
        order = (0, 1) if round_index % 2 == 0 else (1, 0)
        for which in order:
            fn = (first, second)[which]
            start = time.perf_counter()
            block(fn(*args))
            times[which].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def compile_layer_call(layer, **call_kwargs):
    """The layer's call as the backend runs it in training code: jitted or graph-compiled."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        @jax.jit
        def run(trainable, non_trainable, inputs):
            outputs, _ = layer.stateless_call(trainable, non_trainable, inputs, **call_kwargs)
            return outputs

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        return lambda inputs: run(trainable, non_trainable, inputs)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda inputs: layer(inputs, **call_kwargs), jit_compile=True)
    import torch

    def run(inputs):
        with torch.no_grad():
            return layer(inputs, **call_kwargs)

    return run


def row(benchmark, ours_ms, peer_ms, unit="ms"):
    ratio = ours_ms / peer_ms if peer_ms else float("nan")
    return f"| {benchmark} | {keras.config.backend()} | {ours_ms:.2f} {unit} | {peer_ms:.2f} {unit} | {ratio:.2f} |"


HEADER = "| benchmark | backend | ours | peer | ratio (ours/peer) |\n|---|---|---|---|---|"


def benchmark_parser():
    """The options every benchmark script takes (`benchmarks/run.py` passes them)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--no-header", action="store_true", help="print table rows only")
    return parser
