"""Fixtures shared across the suite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workplace's ``shared/`` folder beside the checkout (reference data and anchor benchmarks)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is not present beside the checkout")
    return SHARED_DIR


def _load_benchmark(name: str) -> ModuleType:
    # as when Python runs a script: its folder first on the path, so a benchmark imports its siblings
    if str(REPO_ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark(name)`` gives ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a
    package), so that tests can call its helpers."""
    return _load_benchmark
