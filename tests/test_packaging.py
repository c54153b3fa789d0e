"""What a user installs: the wheel holds the one package ``othello`` (no generic top-level names such as
``circuits`` or ``views`` that other distributions own), every public name imports from an installed copy, and
editors see each package's lazy exports (the ``TYPE_CHECKING`` block lists exactly the exported names)."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAZY_PACKAGES = sorted(p for p in (ROOT / "othello").rglob("__init__.py") if "lazy_exports(" in p.read_text())


def _package(path: Path) -> str:
    return ".".join(path.parent.relative_to(ROOT).parts)


def _lazy_exports(tree: ast.Module) -> dict[str, list[str]]:
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "lazy_exports")
    return ast.literal_eval(call.args[1])


def _type_checking_imports(tree: ast.Module) -> dict[str, list[str]]:
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
    )
    return {n.module: [a.name for a in n.names] for n in block.body if isinstance(n, ast.ImportFrom)}


@pytest.mark.parametrize("init", LAZY_PACKAGES, ids=_package)
def test_the_type_checking_block_lists_exactly_the_lazy_exports(init):
    tree = ast.parse(init.read_text())
    listed = {module: sorted(names) for module, names in _type_checking_imports(tree).items()}
    assert listed == {module: sorted(names) for module, names in _lazy_exports(tree).items()}


@pytest.mark.slow
def test_an_editor_resolves_and_completes_the_exports():
    """jedi (what IPython and Jupyter complete with) follows the TYPE_CHECKING imports to each name's module."""
    jedi = pytest.importorskip("jedi")
    unresolved = []
    for init in LAZY_PACKAGES:
        package = _package(init)
        for module, names in _lazy_exports(ast.parse(init.read_text())).items():
            for name in names:
                script = jedi.Script(f"from {package} import {name}\n{name}", path=ROOT / "x.py")
                found = script.goto(2, 1, follow_imports=True)
                if not found or found[0].module_name != module:
                    unresolved.append(f"{package}.{name}")
    assert unresolved == []
    done = jedi.Script("from othello.engine import Bo", path=ROOT / "x.py").complete(1, 29)
    assert "Board" in [c.name for c in done]


_IMPORT_EVERYTHING = """
import importlib, json, sys
import othello
out = {"file": othello.__file__, "missing": []}
for package in sys.argv[1:]:
    module = importlib.import_module(package)
    out["missing"] += [f"{package}.{name}" for name in module.__all__ if not hasattr(module, name)]
from importlib.metadata import entry_points
(script,) = [e for e in entry_points(group="console_scripts") if e.name == "othello-gpt"]
out["script"] = script.value
out["parser"] = script.load().__module__
print(json.dumps(out))
"""


@pytest.mark.slow
def test_the_wheel_installs_only_othello_and_every_public_name_imports(tmp_path):
    import json

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}) == ["othello"]
    assert "othello/explorer/static/index.html" in names and not [n for n in names if "/tests/" in n]
    # a fresh environment: the wheel alone, its dependencies from this environment's site-packages as a plain
    # path (whose .pth files, among them the editable install of the checkout, are not run)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    packages = [_package(p) for p in sorted((ROOT / "othello").rglob("__init__.py"))]
    run = subprocess.run(
        [sys.executable, "-S", "-c", _IMPORT_EVERYTHING, *packages],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": f"{site}:{deps}", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(site)) and out["missing"] == []
    assert out["script"] == "othello.cli.entry:run" and out["parser"] == "othello.cli.entry"


def test_every_library_import_is_a_declared_dependency():
    """What the library imports (function-level imports too) is installed by ``pip install othello-gpt``."""
    import re
    from importlib.metadata import packages_distributions

    import tomllib

    declared = {
        re.split(r"[<>=!~\[ ]", d)[0].lower().replace("_", "-")
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    tops = set()
    for path in (ROOT / "othello").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops.add(node.module.split(".")[0])
    third_party = {t for t in tops if t not in sys.stdlib_module_names and t != "othello"}
    distributions = packages_distributions()
    missing = {
        t: distributions.get(t)
        for t in third_party
        if not {d.lower().replace("_", "-") for d in distributions.get(t, [t])} & declared
    }
    assert missing == {}
