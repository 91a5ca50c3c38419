"""Approximate nearest-neighbour graphs behind `Index(backend=...)`: hnswlib's and faiss's HNSW, imported lazily.

Each graph adds vectors at consecutive positions, searches by inner product
(`(positions, scores)` best first), and round-trips through bytes so that
`Index.save` writes one file.
"""

import importlib
import os
import tempfile

import numpy as np

DEFAULT_OPTIONS = {"M": 32, "ef_construction": 200, "ef_search": 128}
INSTALL = {"hnswlib": "hnswlib", "faiss": "faiss-cpu"}  # Module -> the package that provides it.


def _library(module):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"`backend={module!r}` needs the {INSTALL[module]} package, which is not installed. "
            f"Install it with `pip install {INSTALL[module]}` (or `pip install keras-embed[bench]`)."
        ) from error


def _checked_positions(positions):
    if np.any(positions < 0):  # The graph reached fewer than k vectors.
        raise RuntimeError(
            "The approximate search found fewer than `k` neighbours: raise "
            "`backend_options['ef_search']` (or `M`) and search again."
        )
    return positions.astype(np.int64)


class HnswlibGraph:
    """hnswlib's HNSW graph in its inner-product space (distance `1 - score`)."""

    def __init__(self, dim, options):
        self.hnswlib = _library("hnswlib")
        self.dim, self.options = dim, options
        self.graph = self.hnswlib.Index(space="ip", dim=dim)
        self.graph.init_index(max_elements=1024, M=options["M"], ef_construction=options["ef_construction"])

    def add(self, vectors):
        count = self.graph.get_current_count()
        needed = count + vectors.shape[0]
        if needed > self.graph.get_max_elements():  # Doubling keeps repeated adds linear overall.
            self.graph.resize_index(max(needed, 2 * self.graph.get_max_elements()))
        self.graph.add_items(vectors, np.arange(count, needed))

    def search(self, queries, k):
        self.graph.set_ef(max(self.options["ef_search"], k))
        positions, distances = self.graph.knn_query(queries, k=k)
        return _checked_positions(positions), (1.0 - distances).astype(np.float32)

    def to_bytes(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "graph.bin")
            self.graph.save_index(path)
            with open(path, "rb") as file:
                return file.read()

    def load_bytes(self, data):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "graph.bin")
            with open(path, "wb") as file:
                file.write(data)
            self.graph = self.hnswlib.Index(space="ip", dim=self.dim)
            self.graph.load_index(path)


class FaissGraph:
    """faiss's `IndexHNSWFlat` with the inner-product metric."""

    def __init__(self, dim, options):
        self.faiss = _library("faiss")
        self.options = options
        self.graph = self.faiss.IndexHNSWFlat(dim, options["M"], self.faiss.METRIC_INNER_PRODUCT)
        self.graph.hnsw.efConstruction = options["ef_construction"]

    def add(self, vectors):
        self.graph.add(vectors)

    def search(self, queries, k):
        self.graph.hnsw.efSearch = max(self.options["ef_search"], k)
        scores, positions = self.graph.search(queries, k)
        return _checked_positions(positions), scores

    def to_bytes(self):
        return self.faiss.serialize_index(self.graph).tobytes()

    def load_bytes(self, data):
        self.graph = self.faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


GRAPHS = {"hnswlib": HnswlibGraph, "faiss": FaissGraph}
