"""Runs the suite under the backend named in KERAS_BACKEND (JAX when unset)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "PYTEST_XDIST_WORKER" in os.environ and os.environ["KERAS_BACKEND"] == "torch":
    # One OpenMP thread per torch xdist worker: `-n auto` already runs one worker per core,
    # and torch's OpenMP threads on top spin while they wait for each other, which made the
    # torch suite up to four times slower on 2 cores. (The JAX suite was slower with it.)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import gc  # noqa: E402
import pathlib  # noqa: E402

import xla_test_flags  # noqa: E402

if os.environ["KERAS_BACKEND"] == "jax":
    os.environ.setdefault("XLA_FLAGS", xla_test_flags.FAST_COMPILE)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

if keras.config.backend() == "jax":
    import jax

    # Many tests compile the same program (a layer at the same shapes, saved and reloaded):
    # a compilation cache shared by the xdist workers compiles each once per run, and a
    # rerun of the suite finds them all.
    jax.config.update(
        "jax_compilation_cache_dir",
        str(pathlib.Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilations"),
    )
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# The backend whose run also holds the tests marked `backend_independent`: their code never
# reaches keras' backend (vector files, BM25, the numpy index, the import graph), so running
# them again under each backend would test nothing new.
HOME_BACKEND = "jax"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "backend_independent: the code under test never calls the keras backend; runs only "
        f"under KERAS_BACKEND={HOME_BACKEND} (or with KERAS_EMBED_EVERY_BACKEND=1).",
    )


def pytest_collection_modifyitems(config, items):
    if os.environ["KERAS_BACKEND"] == HOME_BACKEND or os.environ.get("KERAS_EMBED_EVERY_BACKEND"):
        return
    kept, elsewhere = [], []
    for item in items:
        (elsewhere if item.get_closest_marker("backend_independent") else kept).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = kept


def pytest_collection_finish(session):
    """Moves everything imported so far out of the collector's reach.

    keras runs a full `gc.collect()` each time a layer drops a variable (as
    `quantize` does), and with three frameworks imported each pass walks
    millions of objects that live for the whole run (0.4 s a pass here);
    frozen, they are skipped, and objects the tests make are still collected.
    """
    gc.collect()
    gc.freeze()


_TESTS_PER_FREEZE = 25
_tests_since_freeze = 0


def pytest_runtest_teardown(item, nextitem):
    """Every few tests, collects what they left and freezes what survives (caches, compiled
    programs), so that keras' collections stay as cheap late in the run as at its start."""
    global _tests_since_freeze
    _tests_since_freeze += 1
    if _tests_since_freeze == _TESTS_PER_FREEZE:
        _tests_since_freeze = 0
        gc.collect()
        gc.freeze()


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts in float32 with a fixed seed, whatever the last one did."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1337)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(params=["float32", "mixed_bfloat16"])
def dtype_policy(request):
    """Runs a test once per dtype policy the standards require."""
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def backend():
    return keras.config.backend()
