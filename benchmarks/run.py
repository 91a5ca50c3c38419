"""`make bench`: every benchmark script on the backends it compares, as one markdown table.

Each script runs in its own process per backend (the Keras backend is fixed at import
time, and a fresh process keeps one benchmark's memory from inflating the next one's)
and prints table rows of ours vs the peer measured in that process.

    python benchmarks/run.py                       # everything, full sizes
    python benchmarks/run.py --quick               # tiny sizes: a smoke run in seconds
    python benchmarks/run.py --only rotary --backends jax
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# script -> the backends it is measured on (None: it does not depend on the backend).
BENCHMARKS = {
    "bench_reversible_embedding.py": ("jax", "torch", "tensorflow"),
    "bench_rotary.py": ("jax", "torch"),
    "bench_cross_entropy.py": ("jax", "torch"),
    "bench_vectors.py": (None,),
    "bench_embedding.py": ("jax", "torch", "tensorflow"),
    "bench_compact.py": ("jax",),
    "bench_sharding.py": ("jax",),
    "bench_sparse.py": ("jax", "torch", "tensorflow"),
    "bench_kg.py": ("jax", "torch", "tensorflow"),
    "bench_retrieval.py": (None,),
    # Runs every backend in its own subprocess and compares them in one table.
    "bench_demo_step.py": (None,),
    "bench_glove.py": ("jax", "torch", "tensorflow"),
    "bench_word2vec.py": ("jax",),
}
HEADER = "| benchmark | backend | ours | peer | ratio (ours/peer) |\n|---|---|---|---|---|"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--only", help="run only scripts whose name contains this")
    parser.add_argument("--backends", help="comma-separated subset of jax,torch,tensorflow")
    args = parser.parse_args(argv)
    wanted = set(args.backends.split(",")) if args.backends else None

    print(HEADER, flush=True)
    failures = []
    for script, backends in BENCHMARKS.items():
        if args.only and args.only not in script:
            continue
        if not os.path.exists(os.path.join(HERE, script)):
            continue
        for backend in backends:
            if wanted and backend is not None and backend not in wanted:
                continue
            env = dict(os.environ, KERAS_BACKEND=backend or os.environ.get("KERAS_BACKEND", "jax"))
            command = [sys.executable, os.path.join(HERE, script), "--no-header"]
            if args.quick:
                command.append("--quick")
            finished = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
            sys.stdout.write(finished.stdout)
            sys.stdout.flush()
            if finished.returncode:
                failures.append(f"{script} on {backend or 'any backend'}")
    if failures:
        print(f"\nFailed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
