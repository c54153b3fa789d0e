"""The Python examples of the README and the documentation pages run, and print what their text says.

An example is a fenced ``python`` block right after a ``<!-- example: NAME -->`` marker; the same example may
stand on several pages (the README's is also on the Python API page), and every copy must be the same code."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARKED = re.compile(r"<!-- example: ([^>]+?) -->\n```python\n(.*?)```", re.S)


def _examples() -> dict[str, list[tuple[Path, str]]]:
    found: dict[str, list[tuple[Path, str]]] = {}
    for page in PAGES:
        for name, code in MARKED.findall(page.read_text()):
            found.setdefault(name, []).append((page, code))
    return found


EXAMPLES = _examples()
CHECKED = {"probes and interventions", "circuits"}


def _run(name, capsys, tmp_path, monkeypatch) -> str:
    copies = EXAMPLES.get(name)
    assert copies, f"no page shows the {name!r} example any more"
    assert len({code for _, code in copies}) == 1, f"the copies of {name!r} differ: {[p.name for p, _ in copies]}"
    monkeypatch.chdir(tmp_path)
    exec(compile(copies[0][1], f"example: {name}", "exec"), {})
    return capsys.readouterr().out


def test_every_marked_example_has_a_test_of_what_it_prints():
    assert set(EXAMPLES) == CHECKED


def test_the_readme_shows_the_probe_and_intervention_example():
    assert any(page.name == "README.md" for page, _ in EXAMPLES["probes and interventions"])


@pytest.mark.slow
def test_probe_and_intervention_example_runs(capsys, tmp_path, monkeypatch):
    out = _run("probes and interventions", capsys, tmp_path, monkeypatch)
    assert "blocks.2.hook_resid_post relative linear" in out and "64 59" in out
    assert "legal before:" in out and "legal after:" in out
    assert "error against the edited board: 0 with the edit, 4 without" in out  # the edit succeeds, as the text says


@pytest.mark.slow
def test_circuits_example_runs(capsys, tmp_path, monkeypatch):
    out = _run("circuits", capsys, tmp_path, monkeypatch)
    logit, total = re.search(r"logit of f3 (-?[0-9.]+) = the parts' sum (-?[0-9.]+)", out).groups()
    assert logit == total and "resid_pre grid (8, 8)" in out and " and " in out


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
