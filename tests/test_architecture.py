"""The layers hold: data flows one way (engine -> data -> model -> train -> probes -> interventions / circuits /
SAEs -> causal benchmark -> views -> lab / explorer -> cli), no module imports from a layer above it, there are no
import circles, and views never import compute. Imports are read from the source (ast), function-level ones included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("othello",)
# Lowest first. Each entry is one rank; the groups of a rank (the analyses built on probes) may not import each
# other. A module belongs to the longest group name that prefixes it.
LAYERS: list[tuple[str, ...]] = [
    ("othello._lazy", "othello.errors"),
    ("othello.files", "othello.values", "othello.configs", "othello.memory"),
    ("othello",),
    ("othello.engine",),
    ("othello.data",),
    ("othello.model",),
    ("othello.train",),
    ("othello.probes",),
    ("othello.probes.interventions", "othello.circuits", "othello.sae"),
    ("othello.causal",),
    ("othello.views",),
    ("othello.lab", "othello.explorer"),
    ("othello.cli",),
]
# views draw and format what they are given: they may import these layers only
VIEWS_MAY_IMPORT = ("othello._lazy", "othello.errors", "othello.files", "othello", "othello.engine", "othello.views")
COMPUTE_LIBRARIES = ("torch", "transformer_lens", "sklearn", "h5py")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every project module or external top-level package ``path`` imports (a lazy re-export's module too)."""
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(MODULES)
            found |= submodules
            if len(submodules) < len(node.names):  # names from the module itself, not only its submodules
                found.add(node.module)
        elif path.name == "__init__.py" and isinstance(node, ast.Constant) and node.value in MODULES:
            found.add(node.value)
    return found


def _group(module: str) -> tuple[int, str]:
    best = max((g for rank in LAYERS for g in rank if module == g or module.startswith(g + ".")), key=len)
    return next(i for i, rank in enumerate(LAYERS) if best in rank), best


GRAPH = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    assert len(MODULES) > 30
    for module in MODULES:
        _group(module)


def test_no_module_imports_from_a_layer_above_it():
    upward = []
    for module, imported in GRAPH.items():
        rank, group = _group(module)
        for other in imported:
            other_rank, other_group = _group(other)
            if other_rank > rank or (other_rank == rank and other_group != group):
                upward.append(f"{module} (layer {group}) imports {other} (layer {other_group})")
    assert upward == []


def test_no_import_circles():
    circles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(GRAPH[module]):
            if state.get(other) == "open":
                circles.append(" -> ".join(path[path.index(other) :] + [other]) if other in path else other)
            elif other not in state:
                visit(other, path + [other])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_views_never_import_compute():
    bad = []
    for module, path in MODULES.items():
        if _group(module)[1] != "othello.views":
            continue
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in COMPUTE_LIBRARIES or (imported in MODULES and _group(imported)[1] not in VIEWS_MAY_IMPORT):
                bad.append(f"{module} imports {imported}")
    assert bad == []


@pytest.mark.parametrize("package", [m for m, p in MODULES.items() if p.name == "__init__.py"])
def test_each_package_says_what_lives_there(package):
    tree = ast.parse(MODULES[package].read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc) > 40, f"{package}/__init__.py needs a docstring saying what lives there"
    assigns = [n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))]
    names = [
        t.id
        for n in assigns
        for t in (
            n.targets[0].elts
            if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Tuple)
            else [n.targets[0] if isinstance(n, ast.Assign) else n.target]
        )
        if isinstance(t, ast.Name)
    ]
    assert "__all__" in names, f"{package}/__init__.py does not set __all__"


@pytest.mark.parametrize("package", [m for m, p in MODULES.items() if p.name == "__init__.py"])
def test_no_export_is_shadowed_by_a_submodule(package):
    """A submodule, once imported, becomes an attribute of its package: an export of the same name would then
    give the module instead of the function."""
    import importlib

    exports = importlib.import_module(package).__all__
    submodules = {m.rsplit(".", 1)[1] for m in MODULES if "." in m and m.rsplit(".", 1)[0] == package}
    assert sorted(set(exports) & submodules) == []
