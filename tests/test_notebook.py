"""The tutorial notebook runs top to bottom (executed here as a student would, with its own small sizes)."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "tutorial.ipynb"


def test_the_tutorial_notebook_is_stored_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_tutorial_notebook_runs_top_to_bottom(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # run from the repository root (where a student opens it), so the shipped model and its probes are found
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the figures show inline, once each: the plot functions return them and pyplot never holds them
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # move probabilities, read-out, accuracy by layer, intervention, a neuron, head classes, logit attribution,
    # patching, an SAE latent
    assert len(images) == 9
    # the docs site shows the tutorial as it ran here: make docs renders this copy (ignored by git)
    executed = NOTEBOOK.parents[1] / "docs" / "tutorial.ipynb"
    nbformat.write(nb, executed.with_suffix(".tmp"))
    executed.with_suffix(".tmp").replace(executed)
