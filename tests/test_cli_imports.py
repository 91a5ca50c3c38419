"""The command line starts without loading a deep-learning backend.

Each check runs in a fresh interpreter, since the test process itself has
Keras loaded. `--help` and the vector-file tools must not import Keras, JAX,
PyTorch or TensorFlow (TensorFlow alone takes seconds and prints logs).
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent

BACKEND_MODULES = ("keras", "jax", "torch", "tensorflow")

PROBE = """
import sys
from keras_embed.cli import main
try:
    code = main({argv!r})
except SystemExit as stop:
    code = stop.code
print("LOADED", sorted(m for m in {modules!r} if m in sys.modules))
sys.exit(code or 0)
"""


def loaded_modules(argv):
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    environment["PYTHONPATH"] = os.pathsep.join(sys.path)
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, modules=BACKEND_MODULES)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    line = [line for line in result.stdout.splitlines() if line.startswith("LOADED")][-1]
    return line[len("LOADED ") :], result


@pytest.mark.parametrize(
    "argv", [["--help"], ["demo", "--help"], ["vectors", "--help"], ["train", "kg", "--help"]]
)
def test_help_loads_no_backend(argv):
    loaded, result = loaded_modules(argv)
    assert loaded == "[]"
    assert "usage: keras-embed" in result.stdout


def test_vectors_commands_load_no_backend(tmp_path):
    source = tmp_path / "tiny.txt"
    source.write_text("apple 1 0 0\npear 0.9 0.1 0\nstone 0 0 1\n")
    target = str(tmp_path / "tiny.vec")
    for argv in (
        ["vectors", "info", str(source)],
        ["vectors", "convert", str(source), target],
        ["vectors", "neighbors", str(source), "apple", "--topn", "1"],
    ):
        loaded, result = loaded_modules(argv)
        assert loaded == "[]", argv
    assert "pear" in result.stdout


def test_vectors_commands_on_a_file_big_enough_for_a_progress_bar_load_no_backend(tmp_path):
    # Library loads draw keras' Progbar from 8 MB on; the command line must not.
    source = tmp_path / "big.txt"
    row = " ".join(["0.12345"] * 300)
    with open(source, "w") as handle:
        for index in range(3500):
            handle.write(f"word{index} {row}\n")
    assert source.stat().st_size > 8 << 20
    loaded, result = loaded_modules(["vectors", "info", str(source)])
    assert loaded == "[]"
    assert "3500" in result.stdout
