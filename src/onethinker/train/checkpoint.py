"""Atomic checkpoints that a run resumes from exactly.

Layout of ``output_dir/checkpoints/step-000042/``: the model and processor (``save_pretrained``, so a
checkpoint is also a loadable model folder), ``trainer_state.pt`` (optimizer, scheduler, RNG states) and
``state.json`` (step, data position, EMA statistics and anything else plain). A checkpoint is written into
a temporary folder and renamed into place, then ``checkpoints/latest`` is replaced atomically: a run killed
at any moment leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

LATEST = "latest"


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states."""
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    *,
    model,
    processor,
    optimizer=None,
    scheduler=None,
    state: dict[str, Any] | None = None,
    keep: int = 0,
    model_state: dict | None = None,
) -> Path:
    """Write checkpoint ``step`` atomically; keep only the newest ``keep`` (0 = all). Returns its folder.

    ``model_state``: the weights to write when ``model`` holds only a shard of them (FSDP, ZeRO-3).
    """
    import torch

    root = checkpoint_dir(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    final = root / name
    tmp = root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model.save_pretrained(tmp, state_dict=model_state)
    if processor is not None:
        processor.save_pretrained(tmp)
    torch.save(
        {
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng_state(),
        },
        tmp / "trainer_state.pt",
    )
    (tmp / "state.json").write_text(json.dumps({"step": step, **(state or {})}, indent=1))
    _fsync_dir(tmp)
    if final.exists():  # a re-run of the same step (e.g. after resume) replaces it
        old = root / f".old-{name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _write_atomic(root / LATEST, name)
    if keep > 0:
        steps = sorted(p for p in root.glob("step-*") if p.is_dir())
        for old in steps[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or ``None``."""
    root = checkpoint_dir(output_dir)
    pointer = root / LATEST
    if pointer.is_file():
        path = root / pointer.read_text().strip()
        if (path / "state.json").is_file():
            return path
    steps = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file())
    return steps[-1] if steps else None


def load_checkpoint(path: str | Path, *, model, optimizer=None, scheduler=None) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG states from ``path``; return its ``state.json``."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    weights = {}
    for file in sorted(path.glob("*.safetensors")):
        weights.update(load_file(str(file)))
    if not weights:
        raise FileNotFoundError(f"{path}: no model weights (*.safetensors)")
    target = _unwrap(model)
    if hasattr(target, "peft_config"):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(target, weights)
    else:
        missing, unexpected = target.load_state_dict(weights, strict=False)
        missing = [k for k in missing if k not in _tied_keys(target)]
        if missing or unexpected:
            raise RuntimeError(f"{path}: weights do not match the model (missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]})")
    trainer_state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=False)
    if optimizer is not None and trainer_state.get("optimizer") is not None:
        optimizer.load_state_dict(trainer_state["optimizer"])
    if scheduler is not None and trainer_state.get("scheduler") is not None:
        scheduler.load_state_dict(trainer_state["scheduler"])
    set_rng_state(trainer_state["rng"])
    return json.loads((path / "state.json").read_text())


def _unwrap(model):
    return getattr(model, "module", model)


def _tied_keys(model) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return set(tied) if isinstance(tied, (dict, list, set, tuple)) else set()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
