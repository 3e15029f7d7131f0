"""Fixtures for trainer tests: a tiny model and a small synthetic corpus, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from onethinker.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("train_tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """24 shapes-world records (two per task key, images and videos) with SFT targets."""
    from onethinker.data.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("corpus"), 24, 0) / "data.jsonl"
