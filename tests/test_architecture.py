"""The package layout of STYLE.md holds: imports point down and never form a cycle."""

import ast
import os
import pathlib
import subprocess
import sys

import keras_embed

SOURCE_ROOT = pathlib.Path(keras_embed.__file__).parent

# Lower ranks never import higher ones: `cli`/`demo` -> the feature packages -> `ops` -> `_validation`.
RANKS = {
    "_validation": 0,
    "ops": 1,
    "layers": 2,
    "vectors": 2,
    "preprocessing": 2,
    "optimizers": 2,
    "distribution": 2,
    "losses": 2,
    "retrieval": 2,
    "cli": 3,
    "demo": 3,
    "__main__": 4,
    "__init__": 4,
}


def module_name(path):
    parts = path.relative_to(SOURCE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules():
    return {module_name(path): path for path in SOURCE_ROOT.rglob("*.py")}


def imported_modules(source, package, modules):
    """Every module of `modules` that `source` imports, at any depth of its code (lazy imports too).

    `package` is the package the source sits in, for relative imports.
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                # `from package import module` imports the module; `from module import name` the module.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {name for name in found if name in modules}


def import_graph():
    modules = source_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = imported_modules(path.read_text(), package, modules)
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules (first repeated last), or None."""
    state = {}  # module -> "open" while on the DFS stack, "done" after.
    stack = []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def rank(module):
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return RANKS[top]


def test_the_cycle_finder_finds_a_cycle():
    # Guards the test below: a -> b -> c -> a is reported, a DAG is not.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_sees_lazy_relative_and_from_package_imports():
    source = (
        "import keras\n"
        "from keras_embed import ops\n"
        "def f():\n"
        "    from keras_embed.ops.lookup import lookup_rows\n"
        "    from . import positions\n"
    )
    found = imported_modules(source, "keras_embed.ops", source_modules())
    assert found == {"keras_embed.ops", "keras_embed.ops.lookup", "keras_embed.ops.positions"}


def test_no_module_in_src_imports_itself_back():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_point_down_the_package_layers():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if rank(target) > rank(module)
    ]
    assert not upward, "imports that point up: " + ", ".join(sorted(upward))


def test_importing_the_layers_loads_no_vectors_module():
    # A fresh interpreter: this process has imported everything already.
    code = (
        "import sys, keras_embed.layers; "
        "print(sorted(m for m in sys.modules if m.startswith('keras_embed.vectors')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
