"""Test-session settings shared by every test module.

The compiled-model cache (:mod:`bayes_ipd.one_stage.cache`) goes to a folder of this test
session, not the user's cache: a run starts cold and leaves nothing behind, while tests,
CLI subprocesses, notebook kernels and the pytest-xdist workers of the same run (which all
inherit the environment of the process that started first) still share what one of them
compiled. The cache's writes are atomic, so workers writing the same entry are safe.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

#: Set by the first process of a run (the xdist controller, or plain pytest); inherited by
#: the workers, which must not create (or remove) a folder of their own.
_OWNER_VARIABLE = "BAYES_IPD_TEST_SESSION_CACHE"

_INHERITED = os.environ.get(_OWNER_VARIABLE)
_SESSION_CACHE = _INHERITED or tempfile.mkdtemp(prefix="bayes_ipd_test_cache_")
os.environ[_OWNER_VARIABLE] = _SESSION_CACHE
os.environ["BAYES_IPD_CACHE_DIR"] = _SESSION_CACHE


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's cache folder, from the process that made it only."""
    if _INHERITED is None and not _is_xdist_worker(config):
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
