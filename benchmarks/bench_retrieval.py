"""Top-10 inner-product search: `keras_embed.retrieval.Index` vs faiss `IndexFlatIP`, and quantised vs exact.

Random float32 candidates and queries (Gaussian, so every query has a
different top 10). Timings are medians of calls alternated in this one
process; faiss runs with as many threads as the machine's BLAS (`faiss.omp_get_max_threads`).
Recall@10 is measured against our exact search (and faiss's against ours).

    python benchmarks/bench_retrieval.py [--quick] [--size small|full]
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from _timing import HEADER, benchmark_parser, paired_median_ms, row

from keras_embed.retrieval import Index

SIZES = {"quick": (20_000, 64, 200), "small": (50_000, 384, 2_000), "full": (200_000, 384, 10_000)}
K = 10


def recall(found, exact):
    return np.mean([len(set(a) & set(b)) / K for a, b in zip(found.tolist(), exact.tolist())])


def main(argv=None):
    parser = benchmark_parser()
    parser.add_argument("--size", choices=("small", "full"), default="full")
    args = parser.parse_args(argv)
    count, dim, queries_count = SIZES["quick" if args.quick else args.size]
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(count, dim)).astype("float32")
    queries = rng.normal(size=(queries_count, dim)).astype("float32")
    label = f"{queries_count // 1000 or queries_count}{'k' if queries_count >= 1000 else ''} queries x {count:,} x {dim}"
    if not args.no_header:
        print(HEADER)
    exact = Index(dim)
    exact.add(candidates)
    exact_ids = exact.search(queries, K)[1]
    repeats = 3
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        flat = faiss.IndexFlatIP(dim)
        flat.add(candidates)
        faiss_ids = flat.search(queries, K)[1]
        ours_ms, peer_ms = paired_median_ms(
            lambda: exact.search(queries, K), lambda: flat.search(queries, K), repeats=repeats, warmup=0
        )
        print(row(f"exact top-10, {label} (peer faiss IndexFlatIP, {faiss.omp_get_max_threads()} threads; "
                  f"recall ours 1.000, faiss {recall(faiss_ids, exact_ids):.3f})", ours_ms, peer_ms))
    for quantization, factor in (("int8", 4), ("binary", 10)):
        quantised = Index(dim, quantization=quantization, rescore_factor=factor)
        quantised.add(candidates)
        found = quantised.search(queries, K)[1]
        ours_ms, peer_ms = paired_median_ms(
            lambda: quantised.search(queries, K), lambda: exact.search(queries, K), repeats=repeats, warmup=0
        )
        print(row(f"{quantization} + float rescoring of {factor * K}, {label} (peer: our exact; "
                  f"recall@10 {recall(found, exact_ids):.3f})", ours_ms, peer_ms))


if __name__ == "__main__":
    main()
