"""Row-sparse training step vs table size: ours, keras dense, torch SparseAdam.

One `train_on_batch` step (batch of 4096 ids, d=64, Adam) on tables of 100k, 1M and
10M rows: `Embedding(sparse=True)` with `keras_embed.optimizers.Adam`, keras'
`Embedding` with `keras.optimizers.Adam` (dense; up to 2M rows by default, as its
(V, d) gradient and full-table update make 10M take seconds per step and ~13 GB),
and torch's `nn.Embedding(sparse=True)` with `torch.optim.SparseAdam` in the same
process (steps alternating with ours where both fit in memory at once, else one after
the other). Also the resident memory of our 10M-row model after 10 and after 40 steps,
against table + Adam slots + 100 MB.

torch (the peer, and keras' torch backend) runs with one intra-op thread: on the shared
2-core machine its OpenMP threads otherwise spin against each other and a 4096-row step
takes hundreds of milliseconds on either side.

Results are appended to `benchmarks/results/sparse_<backend>.json`, and
`docs/sparse_step_time.png` is redrawn from every backend's results found there.
"""

import gc
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import HEADER, benchmark_parser, row  # noqa: E402

import keras_embed  # noqa: E402
from keras_embed.layers import Embedding  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
PLOT = os.path.join(HERE, os.pardir, "docs", "sparse_step_time.png")
WIDTH = 64


def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def available_mb():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def fits(rows, arrays):
    """Whether `arrays` (rows x 64) float32 arrays fit in memory now, with 1 GB to spare.

    The machine is shared: a size that does not fit is skipped, not swapped or killed.
    """
    needed = arrays * rows * WIDTH * 4 / 2**20 + 1024
    if available_mb() < needed:
        print(f"skipped V={rows:,}: needs {needed:,.0f} MB, {available_mb():,.0f} MB available",
              file=sys.stderr)
        return False
    return True


def id_batches(rows, batch, count=8):
    rng = np.random.default_rng(0)
    return [rng.integers(0, rows, size=(batch,)).astype("int32") for _ in range(count)]


def step_ms(step, batches, repeats, warmup=3):
    for i in range(warmup):
        step(batches[i % len(batches)])
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        step(batches[i % len(batches)])
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def paired_step_ms(first, second, batches, repeats, warmup=3):
    """Median step times of two steps run in alternation, so load hits both alike."""
    for i in range(warmup):
        first(batches[i % len(batches)])
        second(batches[i % len(batches)])
    times = ([], [])
    for i in range(repeats):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            start = time.perf_counter()
            (first, second)[which](batches[i % len(batches)])
            times[which].append((time.perf_counter() - start) * 1000)
    return float(np.median(times[0])), float(np.median(times[1]))


def keras_step(rows, batch, sparse):
    if sparse:
        layer = Embedding(rows, WIDTH, sparse=True)
        optimizer = keras_embed.optimizers.Adam(1e-3)
    else:
        layer = keras.layers.Embedding(rows, WIDTH)
        optimizer = keras.optimizers.Adam(1e-3)
    model = keras.Sequential([keras.Input(batch_shape=(batch,), dtype="int32"), layer])
    model.compile(optimizer=optimizer, loss="mse")
    target = np.ones((batch, WIDTH), "float32")
    return model, lambda ids: model.train_on_batch(ids, target)


def torch_step(rows, batch):
    import torch

    torch.manual_seed(0)
    table = torch.nn.Embedding(rows, WIDTH, sparse=True)
    optimizer = torch.optim.SparseAdam(table.parameters(), lr=1e-3)
    target = torch.ones(batch, WIDTH)

    def step(ids):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(table(torch.from_numpy(ids).long()), target)
        loss.backward()
        optimizer.step()
        return float(loss)

    return step


def release():
    """Free the last model's tables before the next one is built."""
    keras.backend.clear_session()
    gc.collect()


def measure(sizes, batch, repeats, dense_max_rows):
    import torch

    torch.set_num_threads(1)
    results = {"backend": keras.config.backend(), "batch": batch, "width": WIDTH, "rows": sizes}
    ours, peer_torch, peer_dense = [], [], []
    memory = None
    for rows in sizes:
        batches = id_batches(rows, batch)
        if not fits(rows, 3):
            ours.append(None), peer_torch.append(None), peer_dense.append(None)
            continue
        baseline = resident_mb()
        model, step = keras_step(rows, batch, sparse=True)
        # Both models at once where memory allows: steps alternate, the ratio resists load.
        paired = rows != max(sizes) and fits(rows, 6)
        if paired:
            ours_ms, torch_ms = paired_step_ms(step, torch_step(rows, batch), batches, repeats)
            ours.append(ours_ms)
        else:
            ours.append(step_ms(step, batches, repeats))
        if rows == max(sizes):
            after_10 = resident_mb()
            for i in range(30):
                step(batches[i % len(batches)])
            after_40 = resident_mb()
            state_mb = 3 * rows * WIDTH * 4 / 2**20
            memory = {
                "state_mb": state_mb,
                "after_10_steps_mb": after_10 - baseline,
                "after_40_steps_mb": after_40 - baseline,
            }
        del model, step
        release()
        if paired:
            peer_torch.append(torch_ms)
        else:
            peer_torch.append(step_ms(torch_step(rows, batch), batches, repeats) if fits(rows, 3) else None)
        release()
        if rows <= dense_max_rows and fits(rows, 5):
            model, step = keras_step(rows, batch, sparse=False)
            peer_dense.append(step_ms(step, batches, max(3, repeats // 4), warmup=2))
            del model, step
            release()
        else:
            peer_dense.append(None)
    results.update(ours_ms=ours, torch_sparse_adam_ms=peer_torch, keras_dense_ms=peer_dense, memory=memory)
    return results


def plot(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = sorted(f for f in os.listdir(RESULTS) if f.startswith("sparse_") and f.endswith(".json"))
    if not found:
        return
    figure, axes = plt.subplots(1, len(found), figsize=(4.5 * len(found), 4), squeeze=False)
    for axis, name in zip(axes[0], found):
        with open(os.path.join(RESULTS, name)) as handle:
            result = json.load(handle)
        rows = result["rows"]
        for key, label, style in (
            ("ours_ms", "keras-embed sparse=True + Adam", "o-"),
            ("torch_sparse_adam_ms", "torch SparseAdam", "s--"),
            ("keras_dense_ms", "keras Embedding + Adam (dense)", "^:"),
        ):
            points = [(r, t) for r, t in zip(rows, result[key]) if t is not None]
            if points:
                axis.plot(*zip(*points), style, label=label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("table rows (d=64)")
        axis.set_ylabel(f"train step, batch {result['batch']} ids (ms)")
        axis.set_title(f"{result['backend']} backend")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv=None):
    parser = benchmark_parser()
    parser.add_argument("--dense-max-rows", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    if args.quick:
        sizes, batch, repeats = [1000, 10_000], 256, 5
    else:
        sizes, batch, repeats = [100_000, 1_000_000, 10_000_000], 4096, 30
    results = measure(sizes, batch, repeats, args.dense_max_rows)

    if not args.no_header:
        print(HEADER)
    small, large = sizes[0], sizes[-1]
    ours, torch_ms, dense = results["ours_ms"], results["torch_sparse_adam_ms"], results["keras_dense_ms"]
    for rows, ours_ms, torch_step_ms, dense_ms in zip(sizes, ours, torch_ms, dense):
        if ours_ms is None:
            continue
        if torch_step_ms is not None:
            print(row(f"sparse Adam step, V={rows:,} vs torch SparseAdam", ours_ms, torch_step_ms))
        if dense_ms is not None:
            print(row(f"sparse Adam step, V={rows:,} vs keras dense Adam", ours_ms, dense_ms))
    if ours[-1] is not None and ours[0] is not None:
        print(row(f"sparse Adam step, V={large:,} vs ours at V={small:,}", ours[-1], ours[0]))
    memory = results["memory"]
    if memory is not None:
        print_memory_rows(memory, large)
    if not args.quick:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, f"sparse_{results['backend']}.json"), "w") as handle:
            json.dump(results, handle, indent=1)
        plot(PLOT)


def print_memory_rows(memory, large):
    print(row(
        f"resident MB at V={large:,} after 40 steps vs table+slots+100 MB",
        memory["after_40_steps_mb"], memory["state_mb"] + 100, unit="MB",
    ))
    print(row(
        f"resident MB at V={large:,}: after 40 steps vs after 10 (flat: ~1)",
        memory["after_40_steps_mb"], memory["after_10_steps_mb"], unit="MB",
    ))


if __name__ == "__main__":
    main()
