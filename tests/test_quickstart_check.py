"""benchmarks/quickstart_check.py pools several seeds' RL - SFT: mean over runs, independent standard errors."""


import pytest

from onethinker.eval.blind import ALL_TASKS


@pytest.fixture(scope="module")
def check(load_benchmark):
    return load_benchmark("quickstart_check")


def _run(diff, se, looks, helps):
    return {"rows": {ALL_TASKS: {"rl_minus_sft": diff, "rl_minus_sft_se": se}},
            "verdict": {"looks": looks, "rl_helps": helps}}


def test_pool_is_the_mean_with_independent_errors(check):
    runs = [_run(0.009, 0.004, True, False), _run(0.025, 0.003, True, True), _run(0.007, 0.0, True, False)]
    p = check.pool(runs, "rl_minus_sft")
    assert p["values"] == [0.009, 0.025, 0.007]
    assert p["mean"] == pytest.approx(0.041 / 3)
    assert p["se"] == pytest.approx(0.005 / 3)  # sqrt(0.004^2 + 0.003^2 + 0) / 3
    assert p["low"] == pytest.approx(0.041 / 3 - 1.959964 * 0.005 / 3)
    assert p["high"] == pytest.approx(0.041 / 3 + 1.959964 * 0.005 / 3)
    assert (p["runs"], p["looks"], p["rl_helps"]) == (3, 3, 1)


def test_pool_without_an_error_gives_no_interval(check):
    p = check.pool([_run(0.02, None, False, True), _run(-0.01, 0.01, True, False)], "rl_minus_sft")
    assert p["mean"] == pytest.approx(0.005)
    assert p["se"] is None and p["low"] is None and p["high"] is None
    assert (p["looks"], p["rl_helps"]) == (1, 1)


def test_rl_minus_sft_on_learned_and_other_tasks(check):
    # SFT has learned a task when SFT - constant's paired interval lies above 0; no interval counts as not learned
    rows = {"a": {"rl_minus_sft": 0.04, "sft_minus_constant_low": 0.2},
            "b": {"rl_minus_sft": 0.02, "sft_minus_constant_low": 0.001},
            "c": {"rl_minus_sft": -0.01, "sft_minus_constant_low": -0.05},
            "d": {"rl_minus_sft": 0.03, "sft_minus_constant_low": 0.0},
            "e": {"rl_minus_sft": 0.5, "sft_minus_constant_low": None}}
    out = check.by_learned(rows, ["a", "b", "c", "d"])
    assert out["tasks_learned"] == ["a", "b"] and out["tasks_not_learned"] == ["c", "d"]
    assert out["rl_minus_sft_learned"] == pytest.approx(0.03) and out["rl_minus_sft_not_learned"] == pytest.approx(0.01)
    none = check.by_learned(rows, ["c", "e"])
    assert none["tasks_learned"] == [] and none["rl_minus_sft_learned"] is None
    assert none["rl_minus_sft_not_learned"] == pytest.approx(0.245)


def test_spread_pools_each_folders_deviations_by_their_degrees_of_freedom(check):
    def run(folder, own, repeats):
        return {"folder": folder, "rows": {ALL_TASKS: {"rl_minus_sft": own}}, "verdict": {"rl_helps": own >= 0.02},
                "repeats": [{"rl_minus_sft": v, "rl_helps": v >= 0.02} for v in repeats]}

    # folder a: 0.01, 0.03 (mean 0.02, squares 2e-4); folder b: 0.00, 0.01, 0.02 (squares 2e-4); dof 1 + 2
    out = check.spread([run("a", 0.01, [0.03]), run("b", 0.00, [0.01, 0.02])])
    assert out["sd"] == pytest.approx((4e-4 / 3) ** 0.5)
    assert (out["dof"], out["runs"], out["rl_helps"]) == (3, 5, 2)
    assert out["values"] == {"a": [0.01, 0.03], "b": [0.00, 0.01, 0.02]}
    # a folder without repeats adds its run but no degree of freedom; none at all gives no spread
    more = check.spread([run("a", 0.01, [0.03]), run("c", 0.05, [])])
    assert more["sd"] == pytest.approx((2e-4) ** 0.5) and (more["dof"], more["runs"]) == (1, 3)
    assert check.spread([run("c", 0.05, [])])["sd"] is None


def test_the_issue_bars_at_their_edges(check):
    # it looks: mean gap >= 0.10 and at least 6 tasks with a gap >= 0.05
    six = [0.05] * 6 + [0.0] * 6
    assert check.looks_bar(0.10, six) == (6, True)
    assert check.looks_bar(0.0999, six) == (6, False)
    assert check.looks_bar(0.30, [0.05] * 5 + [0.049] * 7) == (5, False)
    # RL helps: mean RL - SFT >= 0.02 and at most 3 tasks worse by more than 0.02 (-0.02 itself is not worse)
    assert check.helps_bar(0.02, [-0.03] * 3 + [-0.02] * 9) == (3, True)
    assert check.helps_bar(0.02, [-0.03] * 4 + [0.1] * 8) == (4, False)
    assert check.helps_bar(0.0199, [0.0] * 12) == (0, False)


def test_rl_repeats_are_paired_with_sft_record_by_record(check, quickstart_rl_folder, tmp_path):
    """``check(..., rl_repeats=2)``: repeat 1 trains beside this process, repeat 2 here; each one's RL - SFT is
    the mean over tasks of its per-task accuracy minus SFT's, on the same records."""
    import json
    import shutil
    import statistics

    from onethinker.data import read_records
    from onethinker.data.synth import synth_tasks
    from onethinker.tasks.registry import task_key
    from onethinker.train.config import RLConfig, load_config
    from onethinker.train.rl import train_rl

    folder = tmp_path / "qs"
    for part in ("sft", "configs"):
        shutil.copytree(quickstart_rl_folder / part, folder / part)
    train_rl(load_config(RLConfig, folder / "configs" / "rl.yaml", [f"trainer.output_dir={folder / 'rl'}"]))
    (folder / "eval").mkdir()
    (folder / "eval" / "summary.json").write_text(json.dumps(
        {"accuracy": {"sft": {t: {} for t in [*synth_tasks(), ALL_TASKS]}}, "plan": {"difficulty": 0.0}}))

    out = check.check(folder, "check", per_task=2, rl_repeats=2)

    test = check.split_file(folder, "check")
    records = [r for _, r in read_records(test)]
    assert len(records) == 2 * len(synth_tasks())
    cfg = load_config(RLConfig, folder / "configs" / "rl.yaml", [])
    plan = check.answer_plan(folder, "check", cfg)
    sft_mean = out["rows"][ALL_TASKS]["sft"]
    assert sft_mean == pytest.approx(statistics.mean(out["rows"][t]["sft"] for t in synth_tasks()))
    assert [r["seed"] for r in out["repeats"]] == [cfg.trainer.seed + 1000, cfg.trainer.seed + 2000]
    for j, row in enumerate(out["repeats"], start=1):
        assert (folder / f"rl_repeat{j}" / "final" / "model.safetensors").is_file()
        accuracy = check.repeat_accuracy(folder, plan, test, j, cfg.trainer.seed)  # the trained run, answered again
        by_task: dict[str, list[float]] = {}
        for record, value in zip(records, accuracy, strict=True):
            by_task.setdefault(task_key(record.problem_type, record.data_type), []).append(value)
        assert set(by_task) == set(synth_tasks())
        expected = statistics.mean(statistics.mean(v) for v in by_task.values()) - sft_mean
        assert row["rl_minus_sft"] == pytest.approx(expected, abs=1e-9)
        assert row["low"] <= row["rl_minus_sft"] <= row["high"]
        diffs = [statistics.mean(by_task[t]) - out["rows"][t]["sft"] for t in synth_tasks()]
        assert (row["tasks_worse_by_0.02"], row["rl_helps"]) == check.helps_bar(row["rl_minus_sft"], diffs)
