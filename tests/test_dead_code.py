"""Every top-level function and class in src is used: called, subclassed or exported somewhere.

A name counts as used when another piece of src mentions it: as a name, an
attribute, an imported name or a string (`__all__`, the lazy-name tables of the
package `__init__`s).
"""

import ast
import pathlib

import pytest

import keras_embed

pytestmark = pytest.mark.backend_independent

SOURCE_ROOT = pathlib.Path(keras_embed.__file__).parent

# Used from outside src only, each for a reason that leaves no trace in src.
USED_OUTSIDE_SRC = {
    # The autodiff oracle that tests/ops/test_cross_entropy.py checks the fused kernels against.
    "reverse_cross_entropy_reference",
}


def definitions_and_mentions(root):
    """`(definitions, mentions)`: `{(module path, name)}` of top-level defs, and every name mentioned."""
    definitions = set()
    mentions = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                definitions.add((path.relative_to(root).as_posix(), node.name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                mentions.add(node.id)
            elif isinstance(node, ast.Attribute):
                mentions.add(node.attr)
            elif isinstance(node, ast.alias):
                mentions.add(node.name.rpartition(".")[2])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                mentions.add(node.value)
    return definitions, mentions


def unused(root, allowed=frozenset()):
    definitions, mentions = definitions_and_mentions(root)
    return sorted(
        f"{path}:{name}"
        for path, name in definitions
        if name not in mentions and name not in allowed and not name.startswith("__")
    )


def test_the_check_finds_a_function_nobody_uses(tmp_path):
    package = tmp_path / "fake"
    package.mkdir()
    (package / "__init__.py").write_text("from fake.a import exported\n__all__ = ['Listed']\n")
    (package / "a.py").write_text(
        "def exported(): pass\n"
        "def helper(): pass\n"
        "def caller(): return helper()\n"
        "class Listed: pass\n"
        "def forgotten(): pass\n"
    )
    assert unused(package) == ["a.py:caller", "a.py:forgotten"]


def test_every_top_level_function_and_class_in_src_is_used():
    found = unused(SOURCE_ROOT, USED_OUTSIDE_SRC)
    assert not found, "unused (remove them, or say in USED_OUTSIDE_SRC why they stay): " + ", ".join(found)
