"""Families read the one-stage design and the model spec through small protocols
(``bayes_ipd.families.protocols``) and import nothing above them (issue 24)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from bayes_ipd.families import REGISTRY
from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
from bayes_ipd.one_stage.design import Design
from bayes_ipd.spec import ModelSpec


def _members(protocol: type) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_")]


def _has(cls: type, name: str) -> bool:
    fields = {f.name for f in dataclasses.fields(cls)}
    return name in fields or isinstance(getattr(cls, name, None), property)


@pytest.mark.parametrize(("protocol", "real"), [(DesignLike, Design), (ModelSpecLike, ModelSpec)])
def test_the_real_values_have_what_the_protocols_name(protocol, real):
    members = _members(protocol)
    assert members
    assert [m for m in members if not _has(real, m)] == []


def test_families_load_no_route():
    above = ("bayes_ipd.one_stage", "bayes_ipd.checks", "bayes_ipd.spec", "bayes_ipd.priors")
    code = (
        "import sys, bayes_ipd.families; "
        f"print(' '.join(sorted(m for m in sys.modules if m.startswith({above!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_only_the_ordinal_outcome_is_coded_from_levels():
    coded = {
        name: [r.role for r in family.responses if r.coded_from_levels]
        for name, family in REGISTRY.items()
    }
    assert coded == {name: (["outcome"] if name == "ordinal" else []) for name in REGISTRY}
