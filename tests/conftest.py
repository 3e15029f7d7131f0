"""Fixtures shared across the suite."""

from __future__ import annotations

import importlib
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
    # as when Python runs a script: its folder first on the path, so a benchmark imports its siblings; imported
    # by name (one module object per benchmark), so that its functions pickle into helper processes
    if str(REPO_ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark(name)`` gives ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a
    package), so that tests can call its helpers."""
    return _load_benchmark


@pytest.fixture(scope="session")
def quickstart_rl_folder(tmp_path_factory):
    """The parts of a quickstart folder that the RL benchmarks (`rl_curve.py`, `rl_screen.py`) read: an SFT
    checkpoint (a random tiny model), its RL config (one step of two prompts) and a `check` split; each
    benchmark writes its own subfolders."""
    from onethinker.data import synthesize
    from onethinker.models.tiny import build_tiny
    from onethinker.quickstart import QuickstartPlan
    from onethinker.train.config import RLConfig, dump_yaml, load_config

    root = tmp_path_factory.mktemp("qs")
    tasks = ["multiple choice", "numerical", "temporal grounding"]
    train = synthesize(root / "data" / "train", 6, 0, split="train", tasks=tasks) / "data.jsonl"
    synthesize(root / "check_check" / "data" / "check", 6, 0, split="check", tasks=tasks)
    build_tiny(root / "sft" / "final", seed=0)
    media = [f"data.{k}={v}" for k, v in QuickstartPlan(out=root).media.items()]
    cfg = load_config(RLConfig, None, [
        f"model.path={root / 'sft' / 'final'}", f"data.train_file={train}", f"trainer.output_dir={root / 'rl'}",
        *media, "model.device=cpu", "trainer.threads=1", "trainer.max_steps=1", "trainer.seed=3",
        "rollout.prompts_per_step=2", "rollout.n=2", "rollout.max_new_tokens=6", "rollout.temperature=1.0",
        "rollout.online_filtering=false", "optim.name=sgd", "optim.lr=0.5", "optim.scheduler=constant"])
    (root / "configs").mkdir()
    dump_yaml(cfg, root / "configs" / "rl.yaml")
    return root
