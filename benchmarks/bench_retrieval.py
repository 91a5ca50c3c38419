"""Top-10 inner-product search: `keras_embed.retrieval.Index` vs faiss `IndexFlatIP`, quantised vs exact, HNSW graphs.

Random float32 candidates and queries (Gaussian, so every query has a
different top 10). Timings are medians of calls alternated in this one
process; faiss runs with as many threads as the machine's BLAS (`faiss.omp_get_max_threads`).
Recall@10 is measured against our exact search (and faiss's against ours).
The int8 row's one-off packing of the codes (oneDNN's layout, on the first
search) and the graphs' build times are printed apart.

    python benchmarks/bench_retrieval.py [--quick] [--size small|full] [--graph-size quick|small|full]
        [--repeats 3] [--skip-graphs]
"""

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from _timing import HEADER, benchmark_parser, paired_median_ms, row

from keras_embed.retrieval import Index

SIZES = {"quick": (20_000, 64, 200), "small": (50_000, 384, 2_000), "full": (200_000, 384, 10_000)}
K = 10
GRAPH = {"M": 16, "ef_construction": 100, "ef_search": 64}  # The same HNSW settings for every graph.


def recall(found, exact):
    return np.mean([len(set(a) & set(b)) / K for a, b in zip(found.tolist(), exact.tolist())])


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def hnswlib_graph(candidates):
    """hnswlib itself, with the settings `Index(backend=...)` is given."""
    import hnswlib

    graph = hnswlib.Index(space="ip", dim=candidates.shape[1])
    graph.init_index(max_elements=len(candidates), M=GRAPH["M"], ef_construction=GRAPH["ef_construction"])
    graph.add_items(candidates)
    graph.set_ef(GRAPH["ef_search"])
    return graph


def gaussian_data(size):
    """`(candidates, queries, label)` of the named size."""
    count, dim, queries_count = SIZES[size]
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(count, dim)).astype("float32")
    queries = rng.normal(size=(queries_count, dim)).astype("float32")
    shown = f"{queries_count // 1000}k" if queries_count >= 1000 else str(queries_count)
    return candidates, queries, f"{shown} queries x {count:,} x {dim}"


def graph_rows(candidates, queries, exact_ids, label, repeats):
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        print(f"(hnswlib not installed: no graph rows for {label})")
        return
    start = time.perf_counter()
    peer = hnswlib_graph(candidates)
    build = time.perf_counter() - start
    peer_recall = recall(peer.knn_query(queries, k=K)[0], exact_ids)
    for backend in ("hnswlib", "faiss"):
        graph = Index(candidates.shape[1], backend=backend, backend_options=GRAPH)
        ours_build = seconds(lambda: graph.add(candidates))
        found = graph.search(queries, K)[1]
        ours_ms, peer_ms = paired_median_ms(
            lambda: graph.search(queries, K), lambda: peer.knn_query(queries, k=K), repeats=repeats, warmup=0
        )
        print(row(f"HNSW `backend={backend!r}`, {label} (peer hnswlib; M {GRAPH['M']}, ef_construction "
                  f"{GRAPH['ef_construction']}, ef_search {GRAPH['ef_search']}; recall@10 ours "
                  f"{recall(found, exact_ids):.3f}, hnswlib {peer_recall:.3f}; build {ours_build:.0f} s vs "
                  f"{build:.0f} s)", ours_ms, peer_ms))


def main(argv=None):
    parser = benchmark_parser()
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--graph-size", choices=tuple(SIZES), help="size of the HNSW rows (default: --size)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each side")
    parser.add_argument("--skip-graphs", action="store_true", help="leave out the HNSW rows")
    args = parser.parse_args(argv)
    size = "quick" if args.quick else args.size
    candidates, queries, label = gaussian_data(size)
    dim = candidates.shape[1]
    if not args.no_header:
        print(HEADER)
    exact = Index(dim)
    exact.add(candidates)
    exact_ids = exact.search(queries, K)[1]
    repeats = args.repeats
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
        first = seconds(lambda: quantised.search(queries[:1], K))  # Quantises (and packs) the rows.
        found = quantised.search(queries, K)[1]
        ours_ms, peer_ms = paired_median_ms(
            lambda: quantised.search(queries, K), lambda: exact.search(queries, K), repeats=repeats, warmup=0
        )
        print(row(f"{quantization} + float rescoring of {factor * K}, {label} (peer: our exact; "
                  f"recall@10 {recall(found, exact_ids):.3f}; first search, quantising the rows: {first:.1f} s)",
                  ours_ms, peer_ms))
    if not args.skip_graphs:
        graph_size = args.graph_size or size
        if graph_size != size:
            candidates, queries, label = gaussian_data(graph_size)
            exact = Index(candidates.shape[1])
            exact.add(candidates)
            exact_ids = exact.search(queries, K)[1]
        graph_rows(candidates, queries, exact_ids, label, repeats)


if __name__ == "__main__":
    main()
