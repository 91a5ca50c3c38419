"""The package layout of STYLE.md holds: imports point down, packages never form a cycle.

The import graph is read from the source with `ast` and counts every way one
module makes Python run another: `import` statements at any depth (lazy ones
inside functions too), relative imports, `importlib.import_module("...")`
string literals, any string that is a module's full name (the lazy-export tables),
keras registry names (`"keras_embed>Class"`) and the package
`__init__`s that run when a submodule is imported.
"""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

import keras_embed

pytestmark = pytest.mark.backend_independent

SOURCE_ROOT = pathlib.Path(keras_embed.__file__).parent

# A unit (a subpackage, or a top-level module) imports only units of lower rank, so two
# feature packages can never import each other. Packages being added get their row at merge.
RANKS = {
    "_keras_internals": 0,
    "_lazy": 0,
    "_validation": 1,
    "ops": 2,
    "optimizers": 3,
    "preprocessing": 4,
    "vectors": 5,  # file readers and queries; the layers build tables from them
    "losses": 6,
    "layers": 7,
    "distribution": 8,
    "retrieval": 9,
    "models": 10,
    "demo": 11,
    "cli": 12,
    "__main__": 13,
}

# The one module that may compare backend names, and the modules allowed to as well.
BACKEND_MODULE = "keras_embed.ops._backend"
BACKEND_CHECK_ALLOWED = {
    # Refuses to switch an already loaded Keras; importing `ops` would load a backend first.
    "keras_embed.cli",
}

KERAS_INTERNALS_MODULE = "keras_embed._keras_internals"
# Slot lists keras' optimizers keep privately; only `_keras_internals` reads them.
KERAS_PRIVATE_SLOTS = {
    "_accumulators",
    "_momentums",
    "_velocities",
    "_velocity_hats",
    "_accumulated_gradients",
}


# The checker: plain functions of a source root, so the tests below run them on fake trees too.


def module_name(root, path):
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules(root):
    """`{module name: (path, package)}`: `package` anchors the module's relative imports."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(root, path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        modules[name] = (path, package)
    return modules


def _resolve(base, level, package):
    if not level:
        return base
    anchor = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{anchor}.{base}" if base else anchor


def _is_import_module_call(node):
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module"
    )


def registered_names(root, modules):
    """`{"package>Class": module}` for classes registered with keras' serializable registry."""
    registered = {}
    for name, (path, _) in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(
                    decorator.func, "attr", None
                ) == "register_keras_serializable":
                    package = next(
                        (k.value.value for k in decorator.keywords if k.arg == "package"),
                        "Custom",
                    )
                    registered[f"{package}>{node.name}"] = name
    return registered


def imported_modules(source, package, modules, registered=None):
    """Every module of `modules` that `source` makes Python import, at any depth of its code.

    `package` anchors relative imports. `from package import name` counts the
    submodule `package.name` when there is one, else the package.
    """
    registered = registered or {}
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
        elif isinstance(node, ast.Call) and _is_import_module_call(node) and node.args:
            target = node.args[0]
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                anchor = package if target.value.startswith(".") else ""
                level = len(target.value) - len(target.value.lstrip("."))
                found.add(_resolve(target.value.lstrip("."), level, anchor) if level else target.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in registered:
                found.add(registered[node.value])
            elif node.value in modules and not f"{package}.".startswith(f"{node.value}."):
                # A module's full name as data: a lazy-export table (`_lazy.lazy_exports`)
                # or any other indirection that imports it later. Its own package's name
                # is a label (a file-format tag), and that package has run already.
                found.add(node.value)
    return {name for name in found if name in modules}


def _ancestors(module):
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph(root):
    """`{module: modules it makes run}`, package `__init__`s included.

    Importing `a.b.c` runs `a.b`'s `__init__` as well; the ones that
    enclose the importing module itself have already run. The root package
    is left out: its module-level code imports nothing of its own
    (`test_the_root_package_imports_nothing_when_imported`).
    """
    modules = source_modules(root)
    registered = registered_names(root, modules)
    top = root.name
    graph = {}
    for name, (path, package) in modules.items():
        direct = imported_modules(path.read_text(), package, modules, registered)
        own = _ancestors(name) | {name}
        edges = set(direct)
        for target in direct:
            edges |= {ancestor for ancestor in _ancestors(target) if ancestor not in own}
        graph[name] = {target for target in edges if target != name and target != top}
    return graph


def unit(module):
    """The package unit a module belongs to: `a.ops.lookup` -> `ops`, `a.cli` -> `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def unit_graph(graph):
    """The import graph between units (subpackages and top-level modules), without self-edges."""
    units = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(
            unit(target) for target in targets if unit(target) != unit(module)
        )
    return units


def find_cycle(graph):
    """One import cycle as a list of nodes (first repeated last), or None."""
    state = {}  # node -> "open" while on the DFS stack, "done" after.
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _calls_backend(node):
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr == "backend")
        or (isinstance(node.func, ast.Name) and node.func.id == "backend")
    )


def backend_checks(source):
    """Line numbers where `source` compares the running backend's name."""
    tree = ast.parse(source)
    # Names bound to `backend()`, e.g. `backend = keras.config.backend()`.
    holders = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _calls_backend(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(
                _calls_backend(operand) or (isinstance(operand, ast.Name) and operand.id in holders)
                for operand in operands
            ):
                lines.append(node.lineno)
    return lines


def keras_private_uses(source):
    """Line numbers where `source` imports `keras.src` or reads keras' private optimizer slots."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Attribute):
            names = []
            if node.attr in KERAS_PRIVATE_SLOTS or (
                node.attr == "src" and isinstance(node.value, ast.Name) and node.value.id == "keras"
            ):
                lines.append(node.lineno)
        else:
            continue
        if any(name == "keras.src" or name.startswith("keras.src.") for name in names):
            lines.append(node.lineno)
    return lines


def write_package(root, files):
    """A fake package tree under `root`: `{relative path: source}`; returns the package folder."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root / next(iter(files)).split("/")[0]


# The checker finds what it must ------------------------------------------------------------


def test_the_cycle_finder_finds_a_cycle():
    # Guards the tests below: a -> b -> c -> a is reported, a DAG is not.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_relative_and_from_package_imports(tmp_path):
    package = write_package(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/ops/__init__.py": "",
            "fake/ops/lookup.py": "",
            "fake/ops/positions.py": "",
            "fake/layers/__init__.py": "",
            "fake/layers/embedding.py": (
                "import keras\n"
                "from fake import ops\n"
                "def f():\n"
                "    from fake.ops.lookup import lookup_rows\n"
                "    from ..ops import positions\n"
            ),
        },
    )
    graph = import_graph(package)
    assert graph["fake.layers.embedding"] == {"fake.ops", "fake.ops.lookup", "fake.ops.positions"}


def test_the_graph_counts_the_package_init_that_a_submodule_import_runs(tmp_path):
    package = write_package(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/a/__init__.py": "",
            "fake/a/x.py": "from fake.b.y import thing\n",
            "fake/b/__init__.py": "from fake.c import other\n",
            "fake/b/y.py": "",
            "fake/c.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["fake.a.x"] == {"fake.b", "fake.b.y"}
    assert unit_graph(graph)["a"] == {"b"} and unit_graph(graph)["b"] == {"c"}


def test_the_checker_fails_on_a_cycle_through_an_importlib_string(tmp_path):
    # `b` reaches back into `a` only through a string, loaded on first attribute access.
    package = write_package(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/a/__init__.py": "",
            "fake/a/x.py": "from fake.b import y\n",
            "fake/b/__init__.py": (
                "import importlib\n"
                "def __getattr__(name):\n"
                "    return importlib.import_module('fake.a.x')\n"
            ),
            "fake/b/y.py": "",
        },
    )
    assert find_cycle(unit_graph(import_graph(package))) == ["a", "b", "a"]


def test_the_checker_fails_on_a_cycle_through_a_lazy_export_table(tmp_path):
    # `b`'s public names are loaded by a helper from a table of module-name strings.
    package = write_package(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/_lazy.py": "",
            "fake/a/__init__.py": "",
            "fake/a/x.py": "from fake.b import y\n",
            "fake/b/__init__.py": (
                "from fake._lazy import lazy_exports\n"
                "__getattr__, __dir__ = lazy_exports(__name__, {'thing': 'fake.a.x'})\n"
            ),
            "fake/b/y.py": "",
        },
    )
    assert find_cycle(unit_graph(import_graph(package))) == ["a", "b", "a"]


def test_the_checker_fails_on_a_cycle_through_a_keras_registry_name(tmp_path):
    package = write_package(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/a/__init__.py": "",
            "fake/a/x.py": (
                "import keras\n"
                "from fake.b import y\n"
                "@keras.saving.register_keras_serializable(package='fake')\n"
                "class Layer:\n"
                "    pass\n"
            ),
            "fake/b/__init__.py": "",
            "fake/b/y.py": "import keras\nkeras.saving.get_registered_object('fake>Layer')\n",
        },
    )
    assert find_cycle(unit_graph(import_graph(package))) == ["a", "b", "a"]


def test_backend_checks_are_found_directly_and_through_a_name():
    source = (
        "import keras\n"
        "if keras.config.backend() == 'jax':\n"
        "    pass\n"
        "backend = keras.backend.backend()\n"
        "flag = 'torch' != backend\n"
        "print(keras.config.backend())\n"
    )
    assert backend_checks(source) == [2, 5]


def test_private_keras_uses_are_found():
    source = (
        "import keras\n"
        "from keras.src.backend import AutocastScope\n"
        "import keras.src.ops\n"
        "mask = keras.src.backend.get_keras_mask(x)\n"
        "slot = optimizer._momentums[0]\n"
        "from keras import ops\n"
    )
    assert sorted(keras_private_uses(source)) == [2, 3, 4, 5]


# The package holds the rules -----------------------------------------------------------------


def test_no_module_in_src_imports_itself_back():
    cycle = find_cycle(import_graph(SOURCE_ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_package_in_src_imports_itself_back():
    cycle = find_cycle(unit_graph(import_graph(SOURCE_ROOT)))
    assert cycle is None, "package cycle: " + " -> ".join(cycle)


def test_every_unit_of_src_has_a_rank():
    units = {unit(module) for module in source_modules(SOURCE_ROOT)} - {"__init__"}
    assert units <= set(RANKS), f"give these a rank: {sorted(units - set(RANKS))}"


def test_imports_point_down_the_ranks():
    upward = [
        f"{source} -> {target}"
        for source, targets in unit_graph(import_graph(SOURCE_ROOT)).items()
        for target in targets
        if source != "__init__" and RANKS[target] >= RANKS[source]
    ]
    assert not upward, "imports that do not point down: " + ", ".join(sorted(upward))


def test_the_root_package_imports_nothing_when_imported():
    # Its submodules load on attribute access; module-level imports would run them all.
    tree = ast.parse((SOURCE_ROOT / "__init__.py").read_text())
    eager = [
        node.lineno
        for node in tree.body
        if isinstance(node, ast.ImportFrom) or (
            isinstance(node, ast.Import) and any(a.name.startswith("keras_embed") for a in node.names)
        )
    ]
    assert not eager


def test_only_the_backend_module_compares_backend_names():
    found = [
        f"{name}:{line}"
        for name, (path, _) in source_modules(SOURCE_ROOT).items()
        if name != BACKEND_MODULE and name not in BACKEND_CHECK_ALLOWED
        for line in backend_checks(path.read_text())
    ]
    assert not found, "backend checks outside ops/_backend.py: " + ", ".join(found)


def test_only_keras_internals_touches_private_keras():
    found = [
        f"{name}:{line}"
        for name, (path, _) in source_modules(SOURCE_ROOT).items()
        if name != KERAS_INTERNALS_MODULE
        for line in keras_private_uses(path.read_text())
    ]
    assert not found, "private keras outside _keras_internals.py: " + ", ".join(found)


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


def test_every_subpackage_is_an_attribute_of_the_package():
    code = (
        "import keras_embed; "
        "print(sorted(n for n in keras_embed._SUBMODULES "
        "if getattr(keras_embed, n).__name__ == 'keras_embed.' + n))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=True
    )
    subpackages = sorted(
        path.parent.name for path in SOURCE_ROOT.glob("*/__init__.py") if path.parent.name != "demo"
    )
    assert result.stdout.strip().splitlines()[-1] == str(subpackages)
