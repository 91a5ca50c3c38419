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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


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
