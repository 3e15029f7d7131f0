"""Shared fixtures for the data tests: one small synthetic corpus per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """48 shapes-world records (four of each task key) with their media."""
    from onethinker.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("synth"), 48, seed=7)


@pytest.fixture(scope="session")
def synth_records(synth_dir) -> list[dict]:
    return [json.loads(line) for line in (synth_dir / "data.jsonl").read_text().splitlines()]
