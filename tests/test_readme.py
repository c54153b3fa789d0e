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
