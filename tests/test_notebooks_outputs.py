"""The example notebooks' stored outputs are what a reader should see (issue 29, item 10).

GitHub shows the stored outputs as they are, so they must not hold noise from the machine
that executed them: PyTensor's "could not link to a BLAS installation" warning (a fact of
that machine's install, not of the analysis) or the absolute paths of its files (warnings
print the file that raised them). Cheap: only the stored JSON is read; the execution test is
``tests/test_examples.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
BLAS = "could not link to a BLAS"
# an absolute path of the executing machine: a home, a checkout under /work, an interpreter
MACHINE_PATH = re.compile(r"(?:/work/|/root/|/home/|/Users/|[A-Z]:\\\\Users\\\\)")


def _output_texts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
            else:
                data = output.get("data", {})
                texts.extend(str(data[key]) for key in ("text/plain", "text/html") if key in data)
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_outputs_hold_no_blas_warning_or_machine_path(path: Path) -> None:
    texts = _output_texts(path)
    blas = [t[:200] for t in texts if BLAS in t]
    assert not blas, f"{path.name}: stored outputs hold PyTensor's BLAS warning: {blas}"
    paths = [m.group(0) for t in texts for m in [MACHINE_PATH.search(t)] if m]
    leaking = [t[:300] for t in texts if MACHINE_PATH.search(t)]
    assert not paths, f"{path.name}: stored outputs hold build-machine paths: {leaking}"
