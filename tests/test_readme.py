import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_probe_and_intervention_example_runs(capsys, tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"<!-- example: probes and interventions -->\n```python\n(.*?)```", text, re.S)
    assert block, "the README lost its Python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README example", "exec"), {})
    out = capsys.readouterr().out
    assert "blocks.2.hook_resid_post relative linear" in out and "64 59" in out
    assert "legal before:" in out and "legal after:" in out and "error against the edited board" in out


def test_readme_circuits_example_runs(capsys, tmp_path, monkeypatch):
    block = re.search(r"<!-- example: circuits -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "the README lost its circuits example"
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README circuits example", "exec"), {})
    out = capsys.readouterr().out
    logit, total = re.search(r"logit of f3 (-?[0-9.]+) = the parts' sum (-?[0-9.]+)", out).groups()
    assert logit == total and "resid_pre grid (8, 8)" in out and " and " in out
