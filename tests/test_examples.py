"""The example notebooks in ``examples/`` run end to end, and are stored with the outputs of
a full run (so that readers see them; they are not compared).

Every ``examples/*.ipynb`` is executed top to bottom in a fresh ``python3`` kernel, with
``examples/`` as working directory, the non-interactive ``Agg`` backend (no figure window
opens) and this checkout first on ``PYTHONPATH`` (the notebooks exercise the code under
test even when another copy of the package is installed). A cell that raises fails the
test; the notebooks also hold their own checks against published figures, as ``assert``
cells, so a wrong number fails here too.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT_S = 600
# The notebooks written with the package; others found in examples/ are executed too.
EXPECTED = (
    "01_two_stage.ipynb",
    "02_one_stage_continuous.ipynb",
    "03_one_stage_binary_bcg.ipynb",
    "04_survival.ipynb",
    "05_individualised_effects.ipynb",
    "06_evidence_workflow.ipynb",
    "07_network.ipynb",
    "08_repeated_measures.ipynb",
    "09_data_preparation.ipynb",
)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_the_example_notebooks_are_there() -> None:
    found = {p.name for p in NOTEBOOKS}
    missing = [name for name in EXPECTED if name not in found]
    assert not missing, f"examples/ lacks {missing}; it holds {sorted(found)}"


def test_the_readme_lists_every_notebook() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    unlisted = [p.name for p in NOTEBOOKS if p.name not in readme]
    assert not unlisted, f"examples/README.md does not mention {unlisted}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_with_the_outputs_of_a_full_run(path: Path) -> None:
    # Readers on GitHub see the tables and figures; nothing of the outputs is compared, the
    # execution test below runs the notebook again from the current code.
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert None not in counts, f"{path.name}: some code cells were not run before saving"
    assert counts == sorted(counts), f"{path.name}: cells were run out of order: {counts}"
    errors = [o for cell in code for o in cell.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: stored outputs hold an error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes_without_error(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel is a child process: it inherits these variables.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv(
        "PYTHONPATH", str(REPO) if not pythonpath else os.pathsep.join([str(REPO), pythonpath])
    )
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised\n{err}", pytrace=False)
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: {len(errors)} error output(s)"
