"""`Index(backend=...)`: hnswlib's and faiss's HNSW graphs against exact search; save/load; ids; errors."""

import importlib

import numpy as np
import pytest

from keras_embed.retrieval import Index

pytestmark = pytest.mark.backend_independent

BACKENDS = {"hnswlib": "hnswlib", "faiss": "faiss"}  # backend -> module to import
SMALL_GRAPH = {"M": 8, "ef_construction": 40, "ef_search": 40}  # Cheap to build; ample for 1,000 vectors.


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    pytest.importorskip(BACKENDS[request.param])
    return request.param


@pytest.fixture
def clustered(rng):
    # Clustered data: neighbours stand out, as in real embeddings.
    centers = rng.normal(size=(20, 16))
    candidates = centers[rng.integers(0, 20, 1000)] + 0.5 * rng.normal(size=(1000, 16))
    queries = centers[rng.integers(0, 20, 30)] + 0.5 * rng.normal(size=(30, 16))
    return candidates.astype("float32"), queries.astype("float32")


def test_graph_search_finds_the_exact_neighbours_with_their_scores(backend, clustered):
    candidates, queries = clustered
    exact, graph = Index(16), Index(16, backend=backend, backend_options=SMALL_GRAPH)
    exact.add(candidates)
    graph.add(candidates)
    scores, ids = graph.search(queries, 10)
    expected = exact.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), expected.tolist())])
    assert recall >= 0.95
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, candidates[ids]), rtol=1e-4, atol=1e-4)


def test_graph_search_returns_the_ids_given_over_several_adds(backend, clustered):
    candidates, _ = clustered
    index = Index(16, metric="cosine", backend=backend, backend_options=SMALL_GRAPH)
    index.add(candidates[:600], ids=np.arange(600) * 3 + 100)
    index.add(candidates[600:], ids=np.arange(400) - 1000)
    # Each stored vector is its own nearest neighbour by cosine.
    _, ids = index.search(candidates[[0, 599, 600, 999]], 1)
    assert ids[:, 0].tolist() == [100, 599 * 3 + 100, -1000, -601]


def test_graph_index_save_and_load_round_trip(backend, clustered, tmp_path):
    candidates, queries = clustered
    index = Index(16, backend=backend, backend_options=SMALL_GRAPH)
    index.add(candidates, ids=np.arange(1000) + 5)
    index.save(tmp_path / "graph.npz")
    restored = Index.load(tmp_path / "graph.npz")
    assert (restored.backend, restored.backend_options["M"], len(restored)) == (backend, 8, 1000)
    for ours, theirs in zip(restored.search(queries, 5), index.search(queries, 5)):
        np.testing.assert_array_equal(ours, theirs)
    assert [p.name for p in tmp_path.iterdir()] == ["graph.npz"]  # No temporary file left.


def test_missing_graph_package_names_what_to_install(monkeypatch):
    def not_installed(name, *args):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(importlib, "import_module", not_installed)
    with pytest.raises(ImportError, match=r"`backend='hnswlib'` needs the hnswlib package.*pip install hnswlib"):
        Index(4, backend="hnswlib")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match=r"`backend` must be one of \['hnswlib', 'faiss'\]. Received: backend='annoy'"):
        Index(4, backend="annoy")


def test_quantization_with_a_graph_is_refused():
    with pytest.raises(ValueError, match="`quantization` must be None with `backend='faiss'`"):
        Index(4, quantization="int8", backend="faiss")


def test_unknown_backend_option_is_refused():
    with pytest.raises(ValueError, match=r"`backend_options` must be a dict with keys among \['M', "):
        Index(4, backend="faiss", backend_options={"efSearch": 10})


def test_non_positive_backend_option_is_refused():
    with pytest.raises(ValueError, match=r"`backend_options\['M'\]` must be a positive integer. Received"):
        Index(4, backend="faiss", backend_options={"M": 0})
