"""Test-session settings shared by every test module.

The compiled-model cache (:mod:`bayes_ipd.one_stage.cache`) goes to a folder of this test
session, not the user's cache: a run starts cold and leaves nothing behind, while tests,
CLI subprocesses and notebook kernels of the same run (which inherit the environment) still
share what one of them compiled.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_SESSION_CACHE = tempfile.mkdtemp(prefix="bayes_ipd_test_cache_")
os.environ["BAYES_IPD_CACHE_DIR"] = _SESSION_CACHE


@pytest.fixture(scope="session", autouse=True)
def _remove_session_cache():
    yield
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
