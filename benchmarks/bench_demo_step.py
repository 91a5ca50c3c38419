"""The demo's training step on each backend: `fit`, `train_on_batch` and the input pipeline.

Times the model that `keras-embed demo` trains (`keras_embed/demo/model.py`: two
rotary encoder blocks of width 128, a vocabulary of 4972 words, batches of 32 x 64
tokens, the fused masked-LM loss) with the demo's own optimizer, mask generator,
`MaskedBatches` dataset and `TrainingBudget` callback. The token ids are random
(the step's cost does not depend on which words they are), so no corpus is read.

Every backend runs in its own subprocess, one after the other in this run, and
reports milliseconds per step (median over the timed steps, after warm-up):

- `fit`: the demo's `trainer.fit(MaskedBatches(...))`, masking included;
- `fit, batches masked beforehand`: `fit` over the same batches already masked,
  so the difference to `fit` is what masking costs inside `fit`;
- `train_on_batch`: one pre-masked batch per call;
- `mask a batch`: `MaskedLMMaskGenerator` on one batch, to numpy, as
  `MaskedBatches.__getitem__` does;
- `host to device`: one masked batch converted to backend tensors.

The rows compare each backend with torch (ours = the row's backend, peer =
torch), and the last rows give the steps that the demo's 3-minute budget holds
at the measured `fit` step time.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _timing import HEADER, benchmark_parser  # noqa: E402

BACKENDS = ("jax", "torch", "tensorflow")
FULL = {"vocabulary": 4972, "batch": 32, "sequence": 64, "warmup": 5, "steps": 40}
QUICK = {"vocabulary": 300, "batch": 4, "sequence": 16, "warmup": 2, "steps": 4}
BUDGET_SECONDS = 180.0


def _median_ms(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _fit_ms(trainer, dataset, sizes):
    """Median ms per step of `trainer.fit(dataset)`, with the demo's budget callback."""
    import keras

    from keras_embed.demo.run import TrainingBudget

    class StepClock(keras.callbacks.Callback):
        """Records the wall time at the end of every training batch."""

        def on_train_begin(self, logs=None):
            self.ends = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    clock = StepClock()
    total = sizes["warmup"] + sizes["steps"]
    trainer.fit(dataset, epochs=1, steps_per_epoch=total, verbose=0,
                callbacks=[TrainingBudget(max_steps=total), clock])
    steps = [b - a for a, b in zip(clock.ends[:-1], clock.ends[1:])][sizes["warmup"]:]
    return 1000 * statistics.median(steps)


def measure(sizes):
    """One backend's timings in ms, in this process."""
    import keras
    import numpy as np

    from keras_embed.demo.corpus import MASK_ID, PAD_ID, SEP_ID, UNK_ID
    from keras_embed.demo.model import FusedLossTrainer, build_masked_lm
    from keras_embed.demo.run import MASK_RATE, MaskedBatches, masked_inputs
    from keras_embed.layers import MaskedLMMaskGenerator

    keras.utils.set_random_seed(0)
    vocabulary, batch, sequence = sizes["vocabulary"], sizes["batch"], sizes["sequence"]
    rows = batch * (sizes["warmup"] + sizes["steps"])
    sequences = np.random.default_rng(0).integers(4, vocabulary, size=(rows, sequence))
    sequences = sequences.astype("int32")
    masker = MaskedLMMaskGenerator(
        vocabulary_size=vocabulary,
        mask_selection_rate=MASK_RATE,
        mask_token_id=MASK_ID,
        mask_selection_length=int(np.ceil(MASK_RATE * sequence)),
        unselectable_token_ids=[PAD_ID, SEP_ID, UNK_ID],
        seed=0,
    )
    trainer = FusedLossTrainer(build_masked_lm(vocabulary, sequence))
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))

    dataset = MaskedBatches(sequences, masker, batch, seed=0)
    fit_ms = _fit_ms(trainer, dataset, sizes)
    premasked = [dataset[i] for i in range(len(dataset))]

    class Premasked(keras.utils.PyDataset):
        def __len__(self):
            return len(premasked)

        def __getitem__(self, index):
            return premasked[index]

    fit_premasked_ms = _fit_ms(trainer, Premasked(), sizes)
    inputs, targets, weights = premasked[0]
    repeats, warmup = sizes["steps"], sizes["warmup"]
    train_on_batch_ms = _median_ms(
        lambda: trainer.train_on_batch(inputs, targets, sample_weight=weights), repeats, warmup
    )
    mask_ms = _median_ms(lambda: masked_inputs(masker, sequences[:batch]), repeats, warmup)

    def to_device():
        tensors = [keras.ops.convert_to_tensor(x) for x in (*inputs, targets, weights)]
        # A reduction forces the copy on backends that convert lazily.
        return float(keras.ops.convert_to_numpy(keras.ops.sum(tensors[-1])))

    to_device_ms = _median_ms(to_device, repeats, warmup)
    return {
        "fit": fit_ms,
        "fit_premasked": fit_premasked_ms,
        "train_on_batch": train_on_batch_ms,
        "mask": mask_ms,
        "to_device": to_device_ms,
    }


def thread_environment(threads):
    """Environment variables that hold every backend to `threads` compute threads."""
    if not threads:
        return {}
    return {
        "OMP_NUM_THREADS": str(threads),  # torch's intra-op pool
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(threads),
        "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                      + ("false" if threads == 1 else "true")
                      + f" intra_op_parallelism_threads={threads}").strip(),
    }


def measure_in_subprocess(backend, quick, threads):
    command = [sys.executable, os.path.abspath(__file__), "--child"]
    if quick:
        command.append("--quick")
    environment = {
        **os.environ,
        **thread_environment(threads),
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment)
    return json.loads(output.stdout.strip().splitlines()[-1])


LABELS = (
    ("fit", "demo step in `fit` (masking included)"),
    ("fit_premasked", "demo step in `fit`, batches masked beforehand"),
    ("train_on_batch", "demo step, `train_on_batch`"),
    ("mask", "demo input pipeline: mask one batch (to numpy)"),
    ("to_device", "demo input pipeline: one batch host to device"),
)


def main(argv=None):
    parser = benchmark_parser()
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument(
        "--threads", type=int, default=0,
        help="compute threads per backend (default: each backend's own choice)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.child:
        print(json.dumps(measure(sizes)))
        return
    backends = [b for b in args.backends.split(",") if b]
    results = {}
    for backend in backends:
        results[backend] = measure_in_subprocess(backend, args.quick, args.threads)
        print(f"{backend}: {json.dumps(results[backend])}", file=sys.stderr, flush=True)
    if not args.no_header:
        print(HEADER)
    peer = "torch" if "torch" in results else backends[0]
    shape = f"{sizes['batch']}x{sizes['sequence']}, V={sizes['vocabulary']}"
    if args.threads:
        shape += f", {args.threads} thread{'s' if args.threads > 1 else ''}"
    for key, label in LABELS:
        for backend in backends:
            ours, theirs = results[backend][key], results[peer][key]
            print(f"| {label} ({shape}) vs {peer} | {backend} | {ours:.2f} ms | "
                  f"{theirs:.2f} ms | {ours / theirs:.2f} |")
    for backend in backends:
        ours = BUDGET_SECONDS * 1000 / results[backend]["fit"]
        theirs = BUDGET_SECONDS * 1000 / results[peer]["fit"]
        print(f"| demo steps in a {BUDGET_SECONDS / 60:.0f}-minute budget at the `fit` step time "
              f"vs {peer} | {backend} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
