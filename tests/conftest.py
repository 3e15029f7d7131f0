"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workplace's ``shared/`` folder beside the checkout (reference data and anchor benchmarks)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is not present beside the checkout")
    return SHARED_DIR
