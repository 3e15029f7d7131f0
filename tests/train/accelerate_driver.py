"""Runs our trainers the way ``onethinker train sft|rl`` does, one process of an ``accelerate launch``.

``python accelerate_driver.py SPEC.json``: SPEC holds ``runs`` (each ``kind`` sft|rl, ``overrides`` as on the
command line, optional ``crash_at``: every process stops right after that step, as a killed job would) and
``out``. After each run every process writes ``out/<run>-rank<R>.json``: its step, data order, EMA state
and a SHA-256 over its weights, so a test can see whether the processes stayed in step.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


class Crash(Exception):
    pass


def letters_only(trainer, letters=("A", "B", "C", "D")) -> None:
    """One-token rollouts among four letters: every other token is suppressed."""
    tok = trainer.processor.tokenizer
    keep = {tok.convert_tokens_to_ids(t) for t in letters}
    vocab = trainer.runtime.unwrap(trainer.model).get_output_embeddings().weight.shape[0]
    trainer.generation_config().suppress_tokens = [t for t in range(vocab) if t not in keep]


def train_rl_letters(cfg, progress=None):
    """``train_rl`` with one-letter rollouts (:func:`letters_only`)."""
    from onethinker.train.rl import RLTrainer

    trainer = RLTrainer(cfg, progress=progress)
    letters_only(trainer)
    return trainer.train()


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(p.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def make_trainer(kind: str, overrides: list[str], progress=None):
    from onethinker.train.config import RLConfig, SFTConfig, load_config

    if kind == "sft":
        from onethinker.train.sft import SFTTrainer

        return SFTTrainer(load_config(SFTConfig, None, overrides), progress=progress)
    from onethinker.train.rl import RLTrainer

    trainer = RLTrainer(load_config(RLConfig, None, overrides), progress=progress)
    letters_only(trainer)
    return trainer


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["out"])
    for i, run in enumerate(spec["runs"]):
        crash_at = run.get("crash_at")

        def progress(step, total, metrics, crash_at=crash_at):
            if step == crash_at:
                raise Crash

        trainer = make_trainer(run["kind"], run["overrides"], progress)
        try:
            trainer.train()
        except Crash:
            pass
        rank = trainer.runtime.rank
        info = {"step": trainer.step, "world": trainer.runtime.world_size,
                "sampler": trainer.sampler.state_dict(),
                "weights": weights_digest(trainer.runtime.unwrap(trainer.model))}
        if run["kind"] == "rl":
            info.update(ema=trainer.tracker.state_dict(), next_uid=trainer.next_uid)
        (out / f"{i}-rank{rank}.json").write_text(json.dumps(info))
        trainer.runtime.wait()


if __name__ == "__main__":
    main(sys.argv[1])
