"""docs/new_task.md, run: a user's `counting` task, from its own module, through the whole package.

The task lives in examples/counting/onethinker_counting.py (outside src/): synthetic data, validation,
rewards, quickstart-size SFT + EMA-GRPO RL, `eval run` / `eval score` and `predict --viz` drawing all pick it
up from the registry.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from onethinker.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "counting"
runner = CliRunner()


@pytest.fixture(scope="module")
def counting():
    from onethinker.tasks import all_tasks, register, unregister

    sys.path.insert(0, str(EXAMPLE))
    try:
        module = importlib.import_module("onethinker_counting")  # registers the task on first import
        if "counting" not in all_tasks():  # imported (and unregistered) by an earlier test
            register(module.SPEC)
        yield module
    finally:
        unregister("counting")
        sys.path.remove(str(EXAMPLE))


def test_the_doc_shows_the_example_as_it_ships():
    doc = (ROOT / "docs" / "new_task.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)
    assert (EXAMPLE / "onethinker_counting.py").read_text() in blocks
    assert (EXAMPLE / "pyproject.toml").read_text() in re.findall(r"```toml\n(.*?)```", doc, re.DOTALL)


def test_counting_end_to_end_synth_reward_training_and_eval(counting, tmp_path):
    from onethinker.data.synth import synthesize
    from onethinker.predict import draw_answer
    from onethinker.quickstart import QuickstartPlan, make_model, rl_config, sft_config
    from onethinker.tasks import task_key
    from onethinker.train.rl import train_rl
    from onethinker.train.sft import train_sft

    assert task_key("math") == "math" and task_key("Counting") == "counting"  # built-ins still there

    # 1. synthetic data: the CLI's round-robin now includes counting, and the corpus validates
    result = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "all"), "--n", "13", "--seed", "0"])
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in (tmp_path / "all" / "data.jsonl").read_text().splitlines()]
    assert [r["problem_type"] for r in records].count("counting") == 1
    assert runner.invoke(app, ["data", "validate", str(tmp_path / "all" / "data.jsonl")]).exit_code == 0
    train = synthesize(tmp_path / "train", 16, seed=0, tasks=["counting"]) / "data.jsonl"
    test = synthesize(tmp_path / "test", 6, seed=0, split="test", tasks=["counting"]) / "data.jsonl"
    rows = [json.loads(x) for x in test.read_text().splitlines()]
    assert {r["problem_type"] for r in rows} == {"counting"} and all(r["answer"].isdigit() for r in rows)

    # 2. rewards: exact match, with the format and structure parts every task has
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"response": f"<think>x</think><answer>{a}</answer>",
                                          "ground_truth": "3", "problem_type": "counting", "data_type": "image"})
                             + "\n" for a in ("3", "4", "three")))
    assert runner.invoke(app, ["reward", "score", str(items), "-o", str(tmp_path / "scored.jsonl")]).exit_code == 0
    scored = [json.loads(x)["reward"] for x in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert [(s["accuracy"], s["structure"]) for s in scored] == [(1.0, 0.5), (0.0, 0.5), (0.0, 0.0)]
    assert [s["overall"] for s in scored] == pytest.approx([1.5, 0.6, 0.1])

    # 3. quickstart-size training on the counting records: tiny model, SFT, EMA-GRPO RL
    plan = QuickstartPlan(out=tmp_path / "run", sft_steps=2, sft_batch=4, rl_steps=1, rl_prompts=2, rl_n=2,
                          rl_mini=2, max_new_tokens=8, hidden_size=64, layers=1)
    model = make_model(plan, train)
    sft_cfg, rl_cfg = sft_config(plan, model, train), rl_config(plan, plan.out / "sft" / "final", train)
    sft_cfg.data.tasks = rl_cfg.data.tasks = ["counting"]  # data.tasks=[counting]
    train_sft(sft_cfg)
    final = train_rl(rl_cfg)
    rl_rows = [json.loads(x) for x in (plan.out / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert any("reward/overall/counting" in r or "reward/overall" in r for r in rl_rows)

    # 4. evaluation: `eval run` answers with the trained model, `eval score` scores the task by its metric
    pred = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["eval", "run", "--model", str(final), "--bench", str(test), "--out", str(pred),
                                 "--media-root", str(test.parent),
                                 "--max-new-tokens", "8"])
    assert result.exit_code == 0, result.output
    assert len(pred.read_text().splitlines()) == 6
    right = tmp_path / "right.jsonl"  # the reference answers score 100
    right.write_text("".join(json.dumps({**r, "response": r["sft_response"]}) + "\n" for r in rows))
    for predictions, expected in ((pred, None), (right, 100.0)):
        out = tmp_path / f"{predictions.stem}.metrics.json"
        result = runner.invoke(app, ["eval", "score", str(predictions), "--out", str(out)])
        assert result.exit_code == 0, result.output
        metrics = json.loads(out.read_text())["shapes-world"]
        assert metrics["n"] == 6 and 0.0 <= metrics["accuracy"] <= 100.0
        if expected is not None:
            assert metrics["accuracy"] == expected

    # 5. predict --viz draws the answer the task's way
    image = test.parent / rows[0]["images"][0]
    plain, drawn = tmp_path / "plain.png", tmp_path / "drawn.png"
    draw_answer(image, "image", None, plain, task="counting")
    draw_answer(image, "image", 3, drawn, task="counting")
    def yellow_text(path):  # pure yellow pixels: the drawn count (shapes-world "yellow" is darker)
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=int)
        return int(((rgb[..., 0] > 240) & (rgb[..., 1] > 240) & (rgb[..., 2] < 60)).sum())

    assert yellow_text(plain) == 0 and yellow_text(drawn) > 50
