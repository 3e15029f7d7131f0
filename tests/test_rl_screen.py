"""benchmarks/rl_screen.py: variants of the run's RL config from its SFT checkpoint, scored against SFT, paired."""

import json

import pytest


@pytest.fixture(scope="module")
def rl_screen(load_benchmark):
    return load_benchmark("rl_screen")


@pytest.fixture(scope="module")
def folder(quickstart_rl_folder):
    """The quickstart folder with its RL checkpoint, trained as the quickstart trains it (two processes)."""
    from onethinker.quickstart import Helper, two_process_train
    from onethinker.train.config import RLConfig, load_config
    from onethinker.train.rl import train_rl

    if not (quickstart_rl_folder / "rl" / "final" / "config.json").is_file():
        cfg = load_config(RLConfig, quickstart_rl_folder / "configs" / "rl.yaml", [])
        with Helper(1, workers=2) as helper:
            two_process_train(helper, [(train_rl, cfg)])
    return quickstart_rl_folder


def _weights(path):
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_variants_are_parsed_and_bad_ones_refused(rl_screen):
    assert rl_screen.parse_variants([["same"], ["t06", "rollout.temperature=0.6", "rollout.n=8"]]) == {
        "same": [], "t06": ["rollout.temperature=0.6", "rollout.n=8"]}
    assert rl_screen.parse_variants(None) == {}
    for bad, message in (([["a"], ["a", "x=1"]], "repeated"), ([["rl"]], "reserved"), ([["sft"]], "reserved"),
                         ([["a/b"]], "names a folder"), ([["a", "optim.lr", "x=1"]], "KEY=VALUE, got optim.lr")):
        with pytest.raises(SystemExit, match=message):
            rl_screen.parse_variants(bad)


def test_a_variant_config_changes_only_its_settings_and_folder(rl_screen, folder):
    from onethinker.train.config import RLConfig, load_config

    run = load_config(RLConfig, folder / "configs" / "rl.yaml", [])
    cfg = rl_screen.variant_config(folder, "lr", ["optim.lr=0.1", "rollout.temperature=0.6"])
    assert (cfg.optim.lr, cfg.rollout.temperature) == (0.1, 0.6)
    assert cfg.trainer.output_dir == str(folder / "screen_lr")
    assert cfg.trainer.seed == run.trainer.seed and cfg.data == run.data and cfg.algorithm == run.algorithm
    with pytest.raises(Exception, match="no_such_key"):
        rl_screen.variant_config(folder, "bad", ["optim.no_such_key=1"])


def test_screen_trains_scores_pairs_and_reuses(rl_screen, folder):
    from quickstart_check import helps_bar

    from onethinker.data import read_records
    from onethinker.quickstart import QuickstartPlan, answer, score_answers

    with pytest.raises(SystemExit, match="quickstart_check.py"):
        rl_screen.screen([folder], {"same": []}, "other")  # no such split: refused before any training
    assert not (folder / "screen_same").exists()
    variants = {"same": [], "lr": ["optim.lr=0.05"]}
    [result] = rl_screen.screen([folder], variants, "check")
    # a variant without settings is the quickstart's RL trained again: the same weights
    same, quick, lr = (_weights(folder / d / "final") for d in ("screen_same", "rl", "screen_lr"))
    assert all((same[k] == quick[k]).all() for k in quick)
    assert any((lr[k] != quick[k]).any() for k in quick)
    assert list(result["rows"]) == ["rl", "same", "lr"] and result["rows"]["lr"]["sets"] == ["optim.lr=0.05"]
    # each checkpoint's accuracies are its own answers, paired with SFT's record by record, tasks weighed alike
    test_file = folder / "check_check" / "data" / "check" / "data.jsonl"
    records = [r for _, r in read_records(test_file)]
    plan = QuickstartPlan(out=folder / "check_check", seed=3, max_new_tokens=6, threads=1)

    def accuracy(checkpoint):
        return [s["accuracy"] for s in score_answers(records, answer(plan, checkpoint, test_file, "right"))]

    sft, rl = accuracy(folder / "sft" / "final"), accuracy(folder / "screen_lr" / "final")
    per_task = {}
    for record, a, b in zip(records, rl, sft):
        per_task.setdefault(record.key, []).append(a - b)
    means = {task: sum(d) / len(d) for task, d in per_task.items()}
    row = result["rows"]["lr"]
    assert row["per_task"] == pytest.approx(means)
    assert row["rl_minus_sft"] == pytest.approx(sum(means.values()) / len(means))
    assert row["rl"] - row["sft"] == pytest.approx(row["rl_minus_sft"])
    assert row["low"] <= row["rl_minus_sft"] <= row["high"]
    assert (row["tasks_worse_by_0.02"], row["rl_helps"]) == helps_bar(row["rl_minus_sft"], list(means.values()))
    assert result["rows"]["same"]["per_task"] == result["rows"]["rl"]["per_task"]
    # a second call trains nothing and answers nothing: the checkpoints and the kept accuracies are reused
    stamps = {p: p.stat().st_mtime_ns for p in [*folder.glob("screen_*/final/model.safetensors"),
                                                 *folder.glob("screen_check/*.json")]}
    assert len(stamps) == 2 + 4
    assert rl_screen.screen([folder], variants, "check") == [result]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # a checkpoint written since its accuracies were kept is answered again
    kept = folder / "screen_check" / "lr.json"
    assert rl_screen.cached_accuracy(folder, "check", "lr", folder / "screen_lr" / "final") == rl
    (folder / "screen_lr" / "final" / "model.safetensors").touch()
    assert rl_screen.cached_accuracy(folder, "check", "lr", folder / "screen_lr" / "final") is None
    assert kept.is_file()


def test_rl_minus_sft_pairs_kept_accuracies_task_by_task(rl_screen, folder):
    """The random tiny model scores 0 everywhere: known accuracies in the cache make the pairing testable."""
    from onethinker.data import read_records

    variants = {"lr": ["optim.lr=0.05"]}
    rl_screen.screen([folder], variants, "check")  # trains what is missing
    known = {"sft": [0.0, 0.5, 1.0, 0.0, 0.2, 0.4], "rl": [0.0, 0.5, 1.0, 0.0, 0.2, 0.4],
             "lr": [1.0, 0.5, 0.0, 1.0, 0.6, 0.4]}
    for label, path in rl_screen.checkpoints(folder, variants):
        (folder / "screen_check" / f"{label}.json").write_text(json.dumps(
            {"checkpoint": str(path), "stamp": rl_screen._stamp(path), "accuracy": known[label]}))
    records = [r for _, r in read_records(folder / "check_check" / "data" / "check" / "data.jsonl")]
    by_task = {}
    for record, a, b in zip(records, known["lr"], known["sft"], strict=True):
        by_task.setdefault(record.key, []).append(a - b)
    means = {task: sum(d) / len(d) for task, d in by_task.items()}
    [result] = rl_screen.screen([folder], variants, "check")
    row = result["rows"]["lr"]
    assert row["per_task"] == pytest.approx(means) and any(means.values())
    assert row["rl_minus_sft"] == pytest.approx(sum(means.values()) / len(means))
    assert row["low"] < row["rl_minus_sft"] < row["high"]
    assert result["rows"]["rl"]["rl_minus_sft"] == 0 and result["rows"]["rl"]["se"] == 0


def test_summary_pools_the_runs(rl_screen):
    from onethinker.eval.blind import pooled

    def run(diff, se, helps):
        return {"rows": {"rl": {"rl_minus_sft": diff, "se": se, "rl_helps": helps}}}

    out = rl_screen.summary([run(0.01, 0.005, False), run(0.03, 0.004, True), run(0.02, 0.006, True)])["rl"]
    mean, se, low, high = pooled([0.01, 0.03, 0.02], [0.005, 0.004, 0.006])
    assert out == {"values": [0.01, 0.03, 0.02], "mean": mean, "se": se, "low": low, "high": high,
                   "rl_helps": 2, "runs": 3}
    assert out["mean"] == pytest.approx(0.02)


def test_controls_sit_beside_the_quickstart_and_each_variant(rl_screen):
    shuffle = "algorithm.shuffle_advantages=true"
    assert rl_screen.with_controls({"lr": ["optim.lr=0.05"], "same": []}) == {
        "control": [shuffle], "lr": ["optim.lr=0.05"], "lr-control": ["optim.lr=0.05", shuffle],
        "same": [], "same-control": [shuffle]}
    assert rl_screen.with_controls({}) == {"control": [shuffle]}
    for bad, message in (({"control": []}, "control has a control's name"),
                         ({"a": [], "a-control": []}, "a-control has a control's name"),
                         ({"a": ["algorithm.shuffle_advantages=false"]}, "a sets algorithm.shuffle_advantages")):
        with pytest.raises(SystemExit, match=message):
            rl_screen.with_controls(bad)


def test_rl_minus_its_control_is_paired_record_by_record(rl_screen, folder):
    from onethinker.eval.blind import pooled
    from onethinker.train.config import RLConfig, load_config

    variants = rl_screen.with_controls({"lr": ["optim.lr=0.05"]})
    [result] = rl_screen.screen([folder], variants, "check")
    rows = result["rows"]
    assert list(rows) == ["rl", "control", "lr", "lr-control"]
    assert "minus_control" not in rows["control"] and "minus_control" not in rows["lr-control"]
    for control, lr in (("control", 0.5), ("lr-control", 0.05)):  # trained on shuffled advantages
        cfg = load_config(RLConfig, folder / f"screen_{control}" / "config.yaml", [])
        assert cfg.algorithm.shuffle_advantages and cfg.optim.lr == lr
    for label, control in (("rl", "control"), ("lr", "lr-control")):
        # every task's RL - SFT minus the control's: the same records, so RL - control, task by task
        per_task = {t: rows[label]["per_task"][t] - rows[control]["per_task"][t] for t in rows[label]["per_task"]}
        learned = rows[label]["minus_control"]
        assert learned["diff"] == pytest.approx(sum(per_task.values()) / len(per_task))
        assert learned["diff"] == pytest.approx(rows[label]["rl"] - rows[control]["rl"])
        assert learned["low"] <= learned["diff"] <= learned["high"]
    # pooled over runs like RL - SFT; with one run, that run's figure
    mean, se, low, high = pooled([rows["lr"]["minus_control"]["diff"]], [rows["lr"]["minus_control"]["se"]])
    assert rl_screen.summary([result])["lr"]["minus_control"] == {"mean": mean, "se": se, "low": low, "high": high}
    assert "minus_control" not in rl_screen.summary([result])["control"]
