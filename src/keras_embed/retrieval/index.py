"""`Index`: exact and quantised top-k search by inner product or cosine (numpy only)."""

import json
import os
import tempfile

import numpy as np

from keras_embed._validation import check_choice, check_positive_int, describe
from keras_embed.ops import _top_k as _exact
from keras_embed.ops._int8_products import BLOCK_ROWS, Int8Rows, fastest_kernel
from keras_embed.retrieval import _ann

METRICS = ("inner_product", "cosine")
QUANTIZATIONS = (None, "int8", "binary")
FORMAT_VERSION = 1
RESCORE_QUERIES = 256  # Queries whose (pool, dim) candidate vectors are gathered at once.


class Index:
    """Top-k search over a growing set of vectors, exact or quantised with float rescoring.

    Exact search scores blocks of candidates with float32 matrix products and
    keeps a running top k, so memory stays flat in the number of candidates.
    Quantised search first ranks by int8 codes (one scale per row and per
    query, integer products) or by sign bits (the float query's products with
    the rows' +-1 signs, the asymmetric form of Hamming ranking), keeps
    `rescore_factor * k` candidates per query, and reorders them by their
    float32 scores. With torch installed, int8 products over 16,384 rows or
    more run on oneDNN's int8 kernel (torch is imported on the first such
    search, which also packs the codes); otherwise on float32 BLAS.

    Results are best first; equal scores are ordered by insertion position
    (the earlier vector first).

    Args:
        dim: vector size.
        metric: `"inner_product"` or `"cosine"`.
        quantization: None (exact), `"int8"` or `"binary"`.
        rescore_factor: candidates kept per requested neighbour before float
            rescoring (quantised search only).
        backend: None (this module's exact or quantised search), or an
            approximate HNSW graph: `"hnswlib"` or `"faiss"` (each needs its
            package: `pip install hnswlib` / `pip install faiss-cpu`).
        backend_options: for a graph, a dict of any of `M` (links per node,
            default 32), `ef_construction` (200) and `ef_search` (128, raised
            to `k` when smaller): larger values find more true neighbours,
            more slowly.

    Example:

    >>> import numpy as np
    >>> index = Index(dim=2)
    >>> index.add(np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]), ids=[10, 20, 30])
    >>> scores, ids = index.search(np.array([[1.0, 0.2]]), k=2)
    >>> ids.tolist()
    [[10, 30]]
    """

    def __init__(
        self, dim, metric="inner_product", quantization=None, rescore_factor=4, backend=None, backend_options=None
    ):
        self.dim = check_positive_int("dim", dim)
        self.metric = check_choice("metric", metric, METRICS)
        self.quantization = check_choice("quantization", quantization, QUANTIZATIONS)
        self.rescore_factor = check_positive_int("rescore_factor", rescore_factor)
        if backend is not None:
            check_choice("backend", backend, list(_ann.GRAPHS))
            if quantization is not None:
                raise ValueError(
                    f"`quantization` must be None with `backend={backend!r}` (the graph searches the float "
                    f"vectors). Received: quantization={describe(quantization)}."
                )
        self.backend = backend
        self.backend_options = _checked_backend_options(backend_options)
        self._graph = None if backend is None else _ann.GRAPHS[backend](self.dim, self.backend_options)
        self._vectors = np.zeros((0, self.dim), np.float32)
        self._ids = np.zeros(0, np.int64)
        self._codes = None  # Int8Rows or _SignRows, rebuilt on change.

    def __len__(self):
        return self._ids.size

    def __repr__(self):
        searched_by = f"backend={self.backend}" if self.backend else f"quantization={self.quantization}"
        return f"<Index: {len(self)} x {self.dim}, {self.metric}, {searched_by}>"

    def add(self, vectors, ids=None):
        """Append `(n, dim)` vectors; `ids` `(n,)` integers (default: their positions)."""
        vectors = self._checked_matrix("vectors", vectors)
        if ids is None:
            ids = np.arange(len(self), len(self) + vectors.shape[0], dtype=np.int64)
        else:
            ids = np.asarray(ids)
            if ids.shape != (vectors.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(
                    f"`ids` must be {vectors.shape[0]} integers, one per vector. "
                    f"Received: array of shape {ids.shape} and dtype {ids.dtype}."
                )
        if self.metric == "cosine":
            vectors = _unit_rows(vectors)
        if self._graph is None:
            self._vectors = np.concatenate([self._vectors, vectors])
        else:  # The graph holds the vectors.
            self._graph.add(vectors)
        self._ids = np.concatenate([self._ids, ids.astype(np.int64)])
        self._codes = None

    def search(self, queries, k):
        """`(scores, ids)`, each `(q, k)`, best first, for `(q, dim)` queries."""
        queries = self._checked_matrix("queries", queries)
        if not len(self):
            raise ValueError("The index is empty: `add` vectors before searching it.")
        k = check_positive_int("k", k)
        if k > len(self):
            raise ValueError(f"`k` must be at most the index size {len(self)}. Received: k={k}.")
        if self.metric == "cosine":
            queries = _unit_rows(queries)
        if self._graph is not None:
            positions, scores = self._graph.search(queries, k)
        elif self.quantization is None:
            positions, scores = _exact.top_k(queries, self._vectors, None, k)
        else:
            positions, scores = self._quantized_search(queries, k)
        return scores, self._ids[positions]

    def _quantized_search(self, queries, k):
        if self._codes is None:
            self._codes = _coarse_rows(self._vectors, self.quantization)
        pool = min(len(self), k * self.rescore_factor)
        if self.quantization == "int8":
            # Query codes against row codes over the row scales: each query's scores up to its own
            # scale, which leaves its ranking unchanged.
            query_codes, _ = _int8_codes(queries)
            candidates, _ = _exact.top_k(
                query_codes, self._codes, None, pool, products=self._codes.products, block_rows=BLOCK_ROWS
            )
        else:
            # The float query against the +-1 rows: Hamming ranking's asymmetric form, with far fewer ties.
            candidates, _ = _exact.top_k(queries, self._codes, None, pool)
        found = [
            self._rescored(queries[first : first + RESCORE_QUERIES], candidates[first : first + RESCORE_QUERIES], k)
            for first in range(0, len(queries), RESCORE_QUERIES)
        ]
        return tuple(np.concatenate(parts) for parts in zip(*found))

    def _rescored(self, queries, candidates, k):
        """The best `k` of each query's `(q, pool)` candidates by float32 score, with those scores."""
        rescored = np.einsum("qd,qpd->qp", queries, self._vectors[candidates])  # (q, pool)
        order = _best_first(rescored, candidates)[:, :k]
        return np.take_along_axis(candidates, order, 1), np.take_along_axis(rescored, order, 1)

    def _checked_matrix(self, name, values):
        values = np.asarray(values, dtype=np.float32)
        values = values[None] if values.ndim == 1 else values
        if values.ndim != 2 or values.shape[1] != self.dim:
            raise ValueError(
                f"`{name}` must have shape (n, {self.dim}) for this index of dim={self.dim}. "
                f"Received: shape {values.shape}."
            )
        if not np.all(np.isfinite(values)):
            row = int(np.argwhere(~np.isfinite(values))[0, 0])
            raise ValueError(f"`{name}` must be finite. Received: a nan or inf in row {row}.")
        return values

    def save(self, path):
        """Write the index to `path` (a `.npz` file) atomically: a temporary file renamed into place."""
        path = os.fspath(path)
        config = {
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "metric": self.metric,
            "quantization": self.quantization,
            "rescore_factor": self.rescore_factor,
            "backend": self.backend,
            "backend_options": self.backend_options,
        }
        graph = b"" if self._graph is None else self._graph.to_bytes()
        directory = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(
                    file,
                    vectors=self._vectors,
                    ids=self._ids,
                    graph=np.frombuffer(graph, dtype=np.uint8),
                    config=np.array(json.dumps(config)),
                )
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise

    @classmethod
    def load(cls, path):
        """The `Index` saved at `path` by `save`."""
        with np.load(os.fspath(path), allow_pickle=False) as stored:
            config = json.loads(str(stored["config"]))
            if config.pop("format_version", None) != FORMAT_VERSION:
                raise ValueError(f"{path!r} is not an index saved by this version of keras_embed.")
            index = cls(**config)
            index._vectors = stored["vectors"].astype(np.float32)
            index._ids = stored["ids"].astype(np.int64)
            if index._graph is not None:
                index._graph.load_bytes(stored["graph"].tobytes())
        return index


def _checked_backend_options(options):
    """`DEFAULT_OPTIONS` updated by `options`, each a positive integer."""
    options = {} if options is None else options
    if not isinstance(options, dict) or not set(options) <= set(_ann.DEFAULT_OPTIONS):
        raise ValueError(
            f"`backend_options` must be a dict with keys among {list(_ann.DEFAULT_OPTIONS)}. "
            f"Received: backend_options={describe(options)}."
        )
    for name, value in options.items():
        check_positive_int(f"backend_options['{name}']", value)
    return {**_ann.DEFAULT_OPTIONS, **{name: int(value) for name, value in options.items()}}


def _best_first(scores, positions):
    """`(q, pool)` column order by score descending, ties by position ascending."""
    return np.lexsort((positions, -scores), axis=-1)


def _unit_rows(vectors):
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _int8_codes(vectors):
    """`(codes, scales)`: int8 codes `~ vectors * scales`, one scale per row mapping its peak to 127."""
    peaks = np.abs(vectors).max(axis=1)
    scales = np.where(peaks > 0, 127.0 / np.where(peaks > 0, peaks, 1.0), 1.0).astype(np.float32)
    codes = np.clip(np.round(vectors * scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def _coarse_rows(vectors, quantization):
    """The quantised rows that rank candidates: int8 codes with their scales, or packed sign bits."""
    if quantization == "binary":
        return _SignRows(np.packbits(vectors >= 0, axis=1), vectors.shape[1])
    return Int8Rows(*_int8_codes(vectors), kernel=fastest_kernel(vectors.shape[0]))


class _SignRows:
    """Packed sign bits read as `(count, dim)` rows of +-1, a block at a time."""

    dtype = np.dtype(np.int8)

    def __init__(self, packed, dim):
        self.packed = packed
        self.shape = (packed.shape[0], dim)

    def __getitem__(self, rows):
        bits = np.unpackbits(self.packed[rows], axis=1, count=self.shape[1])
        return bits.astype(np.int8) * 2 - 1
