"""Fused vocabulary cross-entropy vs the naive logits path: peak memory and step time.

One training step (loss and gradients) of the reverse projection's softmax
cross-entropy at 4096 tokens, d=768, V=50257, float32, and of a
`MaskedLMHead` with 15% of 8 x 512 positions masked. "ours" is
`reverse_cross_entropy` (`MaskedLMHead.compute_loss`); "peer" is the naive
path that materialises the logits (`hidden @ table.T`, then
`sparse_categorical_crossentropy`).

Memory: every path runs once in a fresh subprocess that records its peak
resident memory during one compiled step, minus the resident memory just
before it (inputs, weights and compiled code excluded: on JAX the inputs are
device arrays before the step, as in a training loop, so their copy is not
counted); the "loss workspace" row subtracts the gradients both paths must
return. Before the baseline the subprocess frees the setup's garbage, hands
free memory back to the system (glibc's `MALLOC_MMAP_THRESHOLD_`,
`malloc_trim`) and waits until its resident size is steady, so that memory
released late by the setup cannot hide what the step allocates. Time: both
paths in this process on identical inputs, alternated call by call, median
of the repeats. JAX steps are `jax.jit(jax.value_and_grad(...))`; torch steps are
eager `backward()`. TensorFlow is not measured.
"""

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import HEADER, paired_median_ms, row, benchmark_parser  # noqa: E402
from keras import ops  # noqa: E402

from keras_embed.layers import MaskedLMHead  # noqa: E402
from keras_embed.layers import ReversibleEmbedding  # noqa: E402
from keras_embed.ops.cross_entropy import default_chunk_size  # noqa: E402
from keras_embed.ops.cross_entropy import reverse_cross_entropy  # noqa: E402

FULL = {"tokens": 4096, "depth": 768, "vocabulary": 50257, "batch": 8, "mask_rate": 0.15}
QUICK = {"tokens": 256, "depth": 32, "vocabulary": 1000, "batch": 4, "mask_rate": 0.15}
PATHS = ("lm_ours", "lm_naive", "mlm_ours", "mlm_naive")


def naive_lm_loss(hidden, table, labels):
    logits = ops.matmul(hidden, ops.transpose(table))  # (tokens, V)
    return ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def ours_lm_loss(hidden, table, labels):
    return reverse_cross_entropy(hidden, table, labels)


def naive_mlm_loss(head, encoded, positions, ids, weights):
    logits = head(encoded, positions)  # (batch, masks, V)
    losses = ops.sparse_categorical_crossentropy(ids, logits, from_logits=True)
    return ops.sum(losses * weights) / ops.sum(weights)


def ours_mlm_loss(head, encoded, positions, ids, weights):
    return head.compute_loss(encoded, positions, ids, weights)


def make_problem(sizes):
    """Identical inputs for every path: numpy arrays and a built MaskedLMHead."""
    rng = np.random.default_rng(0)
    tokens, depth, vocabulary = sizes["tokens"], sizes["depth"], sizes["vocabulary"]
    sequence = tokens // sizes["batch"]
    masks = int(round(sizes["mask_rate"] * sequence))
    problem = {
        "hidden": rng.normal(size=(tokens, depth)).astype("float32"),
        "table": (rng.normal(size=(vocabulary, depth)) * 0.02).astype("float32"),
        "labels": rng.integers(0, vocabulary, size=(tokens,)).astype("int32"),
        "encoded": rng.normal(size=(sizes["batch"], sequence, depth)).astype("float32"),
        "positions": np.stack(
            [np.sort(rng.permutation(sequence)[:masks]) for _ in range(sizes["batch"])]
        ).astype("int32"),
        "ids": rng.integers(0, vocabulary, size=(sizes["batch"], masks)).astype("int32"),
        "weights": np.ones((sizes["batch"], masks), "float32"),
        "masks": masks,
        "sequence": sequence,
    }
    embedding = ReversibleEmbedding(vocabulary, depth, embeddings_initializer="normal")
    head = MaskedLMHead(token_embedding=embedding)
    head.build((None, sequence, depth), (None, masks))
    problem["head"] = head
    return problem


def make_step(path, problem):
    """A zero-argument function running one step of `path`: `(loss, gradients)`."""
    backend = keras.config.backend()
    lm = path.startswith("lm_")
    loss = {
        "lm_ours": ours_lm_loss,
        "lm_naive": naive_lm_loss,
        "mlm_ours": ours_mlm_loss,
        "mlm_naive": naive_mlm_loss,
    }[path]
    head = problem["head"]
    if backend == "jax":
        import jax

        if lm:
            arguments = [problem[k] for k in ("hidden", "table", "labels")]
            step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        else:
            variables = head.trainable_variables
            fixed = [problem[k] for k in ("positions", "ids", "weights")]

            def mlm_objective(values, encoded, *fixed):
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return loss(head, encoded, *fixed)

            arguments = [[v.value for v in variables], problem["encoded"]] + fixed
            step = jax.jit(jax.value_and_grad(mlm_objective, argnums=(0, 1)))
        # Device arrays, as a training loop passes them: no per-call copy of the inputs.
        arguments = jax.device_put(arguments)
        compiled = step.lower(*arguments).compile()
        return lambda: compiled(*arguments)
    if backend == "torch":
        import torch

        if lm:
            hidden, table = (torch.tensor(problem[k], requires_grad=True) for k in ("hidden", "table"))
            labels = torch.tensor(problem["labels"])
            parameters = [hidden, table]

            def run():
                value = loss(hidden, table, labels)
                value.backward()
                return value.detach()

        else:
            encoded = torch.tensor(problem["encoded"], requires_grad=True)
            fixed = [torch.tensor(problem[k]) for k in ("positions", "ids", "weights")]
            parameters = [encoded] + [v.value for v in head.trainable_variables]

            def run():
                value = loss(head, encoded, *fixed)
                value.backward()
                return value.detach()

        def step():
            for parameter in parameters:
                parameter.grad = None
            return run(), [parameter.grad for parameter in parameters]

        return step
    raise SystemExit(f"bench_cross_entropy measures jax and torch, not {backend}.")


def _memory_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _settle_memory():
    """Frees the setup's garbage and waits until the resident size stops moving.

    Buffers of collected arrays are released asynchronously; a baseline read
    before that would let their release offset the step's own allocations.
    """
    gc.collect()
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        trim = None
    previous = None
    for _ in range(50):
        time.sleep(0.2)
        if trim is not None:
            trim(0)  # hands memory that malloc holds free back to the system
        current = _memory_kib("VmRSS")
        if previous is not None and abs(current - previous) < 512:
            return
        previous = current


def measure_peak_mb(path, sizes):
    """Peak resident memory added by one step of `path`, in MB (run in a fresh process)."""
    step = make_step(path, make_problem(sizes))
    _settle_memory()
    baseline = _memory_kib("VmRSS")
    # Resets the peak (VmHWM) to the current resident size (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    from _timing import block

    block(step())
    return (_memory_kib("VmHWM") - baseline) / 1024


def gradient_mb(kind, problem):
    """MB of the gradients every path must return (the same for ours and naive)."""
    if kind == "lm":
        values = problem["hidden"].size + problem["table"].size
    else:
        values = problem["encoded"].size
        values += sum(int(np.prod(v.shape)) for v in problem["head"].trainable_variables)
    return 4 * values / 2**20


def peak_mb_in_subprocess(path, quick):
    command = [sys.executable, os.path.abspath(__file__), "--child", path]
    if quick:
        command.append("--quick")
    # Blocks above 1 MiB get their own pages, returned to the system when freed.
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment)
    return json.loads(output.stdout.strip().splitlines()[-1])["peak_mb"]


def main(argv=None):
    parser = benchmark_parser()
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.child:
        print(json.dumps({"peak_mb": measure_peak_mb(args.child, sizes)}))
        return

    problem = make_problem(sizes)
    chunk = default_chunk_size(sizes["vocabulary"])
    shape = f"{sizes['tokens']} tokens, d={sizes['depth']}, V={sizes['vocabulary']}"
    mlm_shape = (
        f"{sizes['batch']}x{problem['sequence']}, {problem['masks']} masks/seq, "
        f"d={sizes['depth']}, V={sizes['vocabulary']}"
    )
    if not args.no_header:
        print(HEADER)
    labels = (
        ("lm", f"LM loss fwd+bwd ({shape}, chunk={chunk})"),
        ("mlm", f"MaskedLMHead loss fwd+bwd ({mlm_shape})"),
    )
    for kind, label in labels:
        ours = make_step(f"{kind}_ours", problem)
        naive = make_step(f"{kind}_naive", problem)
        # Both paths compute the same loss before they are compared.
        np.testing.assert_allclose(
            float(keras.ops.convert_to_numpy(ours()[0])),
            float(keras.ops.convert_to_numpy(naive()[0])),
            rtol=1e-4,
        )
        repeats, warmup = (5, 1) if args.quick else (3, 1)
        ours_ms, naive_ms = paired_median_ms(ours, naive, repeats=repeats, warmup=warmup)
        print(row(f"{label}: step time", ours_ms, naive_ms), flush=True)
        ours_mb = peak_mb_in_subprocess(f"{kind}_ours", args.quick)
        naive_mb = peak_mb_in_subprocess(f"{kind}_naive", args.quick)
        print(row(f"{label}: peak extra memory", ours_mb, naive_mb, unit="MB"), flush=True)
        gradients = gradient_mb(kind, problem)
        print(
            row(f"{label}: loss workspace (peak minus {gradients:.0f} MB of gradients)",
                ours_mb - gradients, naive_mb - gradients, unit="MB"),
            flush=True,
        )


if __name__ == "__main__":
    main()
