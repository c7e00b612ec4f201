"""Covariate matrices of participant rows, and the check that the data hold a model's covariates.

Shared by the one-stage summaries (:mod:`bayes_ipd.one_stage.summaries`) and the checks that
rebuild design rows for participants (:mod:`bayes_ipd.checks.design_rows`), below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_ipd.errors import IPDDataError

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.spec import ModelSpec

__all__ = ["check_spec_columns", "expand_covariates"]


def expand_covariates(
    covariates: pd.DataFrame, names: Sequence[str], n: int
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """One column per covariate term: numeric as is, categorical one-hot with every level.

    Returns the (n, p) matrix, the term names and, per term, its source covariate.
    """
    blocks: list[np.ndarray] = []
    terms: list[str] = []
    sources: list[str] = []
    for name in names:
        col = covariates[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            for level in col.cat.categories:
                blocks.append((col == level).to_numpy(dtype=np.float64))
                terms.append(f"{name}[{level}]")
                sources.append(name)
        else:
            blocks.append(col.to_numpy(dtype=np.float64))
            terms.append(name)
            sources.append(name)
    x = np.column_stack(blocks) if blocks else np.zeros((n, 0))
    return x, tuple(terms), tuple(sources)


def check_spec_columns(ipd: IPD, spec: ModelSpec) -> None:
    """Every covariate of the spec is a covariate of the data; the families agree."""
    if spec.family != ipd.family:
        raise IPDDataError(
            f"the model is for family {spec.family!r} but the data are {ipd.family!r}"
        )
    have = set(ipd.covariates.columns)
    for name in (*spec.covariates, *spec.interactions, *spec.moderators):
        if name not in have:
            raise IPDDataError(
                f"covariate {name!r} of the model is not among the data's covariates "
                f"{sorted(have)}; pass it in covariates= when reading the data"
            )
