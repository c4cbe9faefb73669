"""Fixtures shared across test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_factory import real_cpu_run


@pytest.fixture(scope="session")
def real_quick_run(tmp_path_factory) -> Path:
    """One real quick CPU run through `bench run` per session, for the tests that read a real run
    folder (a failing harness fails them all). Read it or copy it; never change it in place."""
    return real_cpu_run(tmp_path_factory.mktemp("real-quick") / "run")
