"""benchmarks/rl_curve.py: the run's own RL config for more steps, every checkpoint scored against SFT, paired."""

import json

import pytest


@pytest.fixture(scope="module")
def rl_curve(load_benchmark):
    return load_benchmark("rl_curve")


@pytest.fixture(scope="module")
def folder(quickstart_rl_folder):
    return quickstart_rl_folder


def test_the_curve_config_changes_only_the_length_and_the_checkpoints(rl_curve, folder):
    from onethinker.train.config import RLConfig, load_config

    run = load_config(RLConfig, folder / "configs" / "rl.yaml", [])
    cfg = rl_curve.curve_config(folder, 288, 36)
    t = cfg.trainer
    assert (t.max_steps, t.save_every, t.keep_checkpoints, t.resume) == (288, 36, 0, True)
    assert t.output_dir == str(folder / "rl_curve")
    assert cfg.rollout == run.rollout and cfg.algorithm == run.algorithm and cfg.optim == run.optim
    assert cfg.data == run.data and cfg.model == run.model and t.seed == run.trainer.seed
    assert [s for s, _ in rl_curve.checkpoints(folder, 100, 36)] == [36, 72]
    assert rl_curve.checkpoints(folder, 72, 36)[-1][1] == folder / "rl_curve" / "checkpoints" / "step-000072"


def test_curve_trains_scores_every_checkpoint_and_reuses_them(rl_curve, folder):
    from safetensors.torch import load_file

    from onethinker.data import read_records
    from onethinker.eval.blind import ALL_TASKS
    from onethinker.quickstart import QuickstartPlan, answer, score_answers

    with pytest.raises(SystemExit, match="quickstart_check.py"):
        rl_curve.curve(folder, "other", 2, 1)  # no such split made yet
    result = rl_curve.curve(folder, "check", 2, 1)
    test_file = folder / "check_check" / "data" / "check" / "data.jsonl"
    records = [r for _, r in read_records(test_file)]
    assert [r["step"] for r in result["rows"]] == [1, 2]
    assert set(result["records"]) == {"sft", "step 1", "step 2"}
    assert all(len(acc) == len(records) == 6 for acc in result["records"].values())
    # the helper's answers are the checkpoint's own: answer again here
    plan = QuickstartPlan(out=folder / "check_check", seed=3, max_new_tokens=6, threads=1)
    step2 = folder / "rl_curve" / "checkpoints" / "step-000002"
    here = score_answers(records, answer(plan, step2, test_file, "right"))
    assert [s["accuracy"] for s in here] == result["records"]["step 2"]
    # the tasks SFT has learned are those it beats the constant answer on (paired interval above 0)
    from onethinker.eval.constant import constant_baseline, constant_table

    lows = {r.task: r.low for r in constant_table(constant_baseline(records), result["records"]["sft"])}
    learned = [t for t in result["rows"][0]["per_task"] if (lows.get(t) or 0.0) > 0]
    assert result["tasks_learned"] == learned
    # RL - SFT is paired and weighs the tasks equally
    for row in result["rows"]:
        rl, sft = result["records"][f"step {row['step']}"], result["records"]["sft"]
        per_task = {}
        for record, a, b in zip(records, rl, sft):
            per_task.setdefault(record.key, []).append(a - b)
        means = {task: sum(d) / len(d) for task, d in per_task.items()}
        assert row["per_task"] == pytest.approx(means) and ALL_TASKS not in row["per_task"]
        assert row["rl_minus_sft"] == pytest.approx(sum(means.values()) / len(means))
        assert row["rl"] - row["sft"] == pytest.approx(row["rl_minus_sft"])
        assert row["low"] <= row["rl_minus_sft"] <= row["high"]
        assert row["tasks_worse_by_0.02"] == sum(d < -0.02 for d in means.values())
        for key, group in (("learned", learned), ("not_learned", [t for t in means if t not in learned])):
            expected = sum(means[t] for t in group) / len(group) if group else None
            assert row[f"rl_minus_sft_{key}"] == (None if expected is None else pytest.approx(expected))
    # the weights moved, and a second call reuses the checkpoints instead of training again
    log = [json.loads(x) for x in (folder / "rl_curve" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == [1, 2] and all(x["actor/updates"] == 1 for x in log)
    start, end = (load_file(d / "model.safetensors") for d in (folder / "sft" / "final", step2))
    assert any((start[k] - end[k]).abs().max() > 0 for k in start)
    stamp = (step2 / "model.safetensors").stat().st_mtime_ns
    again = rl_curve.curve(folder, "check", 2, 1)
    assert (step2 / "model.safetensors").stat().st_mtime_ns == stamp
    assert again["records"] == result["records"]
