"""The `train` and `model tiny` commands, and the quickstart pipeline end to end (at toy sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onethinker.cli import app

runner = CliRunner()


def test_train_rl_with_a_bad_config_exits_2_with_the_place_of_the_error(tmp_path):
    recipe = tmp_path / "rl.yaml"
    recipe.write_text("model:\n  path: m\ndata:\n  train_file: d.jsonl\nrollout:\n  n: many\n")
    result = runner.invoke(app, ["train", "rl", str(recipe), "optim.lr=1e-6"])
    assert result.exit_code == 2
    assert f"{recipe}:6: rollout.n: expected an integer, got 'many'" in result.output
    assert "Traceback" not in result.output


def test_train_sft_with_a_missing_data_file_is_a_clean_error(tiny_model, tmp_path):
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(f"model:\n  path: {tiny_model}\ndata:\n  train_file: {tmp_path / 'none.jsonl'}\n"
                      "trainer:\n  max_steps: 1\n")
    result = runner.invoke(app, ["train", "sft", str(recipe)])
    assert result.exit_code == 1
    assert "none.jsonl: file not found" in result.output


def test_model_tiny_command_builds_a_loadable_model(tmp_path):
    from transformers import AutoConfig

    result = runner.invoke(app, ["model", "tiny", "--out", str(tmp_path / "m"), "--hidden-size", "96",
                                 "--layers", "3", "--merge-words"])
    assert result.exit_code == 0, result.output
    config = AutoConfig.from_pretrained(tmp_path / "m")
    assert config.text_config.hidden_size == 96 and config.text_config.num_hidden_layers == 3
    assert config.vision_config.out_hidden_size == 96
    assert runner.invoke(app, ["model", "tiny", "--out", str(tmp_path / "x"), "--hidden-size", "100"]).exit_code == 2


def test_quickstart_pipeline_writes_a_per_task_report_with_plots(tmp_path):
    from onethinker.quickstart import QuickstartPlan, run_quickstart
    from onethinker.train.config import RLConfig, SFTConfig, load_config

    plan = QuickstartPlan(out=tmp_path / "qs", train_size=24, eval_size=12, sft_steps=3, sft_batch=4, rl_steps=2,
                          rl_prompts=2, rl_n=2, max_new_tokens=8, hidden_size=64, layers=1, threads=1,
                          perception_size=6, perception_steps=2, sft_repeats={"tracking": 2})
    report = run_quickstart(plan)
    text = report.read_text()
    # the perception warm-up: the perception tasks' records of their own stream, bare question (+ options) as
    # the prompt, the SFT response as the target; SFT starts from its checkpoint
    folder = tmp_path / "qs" / "data" / "perception"
    warm = [json.loads(x) for x in (folder / "perception.jsonl").read_text().splitlines()]
    records = [json.loads(x) for x in (folder / "data.jsonl").read_text().splitlines()]
    assert len(warm) == 6 and {r["problem_type"] for r in records} == set(plan.perception_tasks)
    for line, record in zip(warm, records):
        options = record["options"] or []
        question = record["problem"] + (("\nOptions:\n" + "\n".join(options)) if options else "")
        assert line["messages"] == [{"role": "user", "content": question},
                                    {"role": "assistant", "content": record["sft_response"]}]
        assert line["images"] == record["images"] and (folder / line["images"][0]).is_file()
        assert "perception" in record["problem_id"]
    sft_yaml = (tmp_path / "qs" / "configs" / "sft.yaml").read_text()
    assert str(tmp_path / "qs" / "perception" / "final") in sft_yaml and "sft_mix.jsonl" in sft_yaml
    # the warm-up holds its own rate constant; SFT decays its own
    stages = {name: load_config(SFTConfig, tmp_path / "qs" / "configs" / f"{name}.yaml", [])
              for name in ("perception", "sft")}
    assert (stages["perception"].optim.lr, stages["perception"].optim.scheduler) == (plan.perception_lr, "constant")
    assert (stages["sft"].optim.lr, stages["sft"].optim.scheduler) == (plan.sft_lr, "cosine")
    # SFT replays the first perception_replay warm-up examples among the training split's, media rebased
    mix = [json.loads(x) for x in (tmp_path / "qs" / "data" / "sft_mix.jsonl").read_text().splitlines()]
    media = [m for row in mix for m in row.get("images", []) + row.get("videos", [])]
    # and the two tracking records twice over (plan.sft_repeats), as the report says
    assert len(mix) == 24 + 2 + 6 and sum(m.startswith("perception/") for m in media) == 6
    tracking = [row for row in mix if row["messages"][0]["content"].startswith("<video>Track the")]
    assert len(tracking) == 4 and len({json.dumps(row) for row in tracking}) == 2
    assert "SFT 3 steps (records repeated: tracking x2)" in text
    assert all((tmp_path / "qs" / "data" / m).is_file() for m in media)
    summary = json.loads((tmp_path / "qs" / "eval" / "summary.json").read_text())
    assert set(summary["sft"]) == set(summary["rl"]) and len(summary["sft"]) == 13  # twelve tasks + "all"
    for task in summary["sft"]:
        if task != "all":
            assert f"| {task} | 1 |" in text
    assert "| **mean (all tasks)** | 12 |" in text
    plots = ["reward_per_task.png", "response_length.png", "sft_loss.png"]
    rl_rows = [json.loads(x) for x in (tmp_path / "qs" / "rl" / "metrics.jsonl").read_text().splitlines()]
    if any(k.startswith("ema/std/") for r in rl_rows for k in r):  # only once some group was kept
        plots.append("ema_std_per_task.png")
    for png in plots:
        assert (tmp_path / "qs" / png).stat().st_size > 1000 and f"]({png})" in text
    rl_cfg = load_config(RLConfig, tmp_path / "qs" / "configs" / "rl.yaml", [])
    assert (rl_cfg.optim.name, rl_cfg.optim.lr, rl_cfg.optim.scheduler) == (plan.rl_optimizer, plan.rl_lr, "constant")
    # accuracy per task with its standard error, the blind control for both checkpoints, the versions
    for checkpoint in ("sft", "rl"):
        assert set(summary["accuracy"][checkpoint]) == set(summary["sft"]) - {"all"} | {"mean over tasks"}
        blind = {row["task"]: row for row in summary["blind"][checkpoint]}
        assert set(blind) == set(summary["accuracy"][checkpoint])
        for task, row in blind.items():
            assert row["gap"] == pytest.approx(row["right"] - row["swapped"])
            assert row["right"] == pytest.approx(summary["accuracy"][checkpoint][task]["mean"])
    assert "Blind-control gap" in text and "| torch |" in text and "| transformers |" in text
    assert "SFT and RL trained data-parallel in two processes" in text  # plan.helper: the report says how it ran
    # RL - SFT, paired over the same records: the difference of the two accuracy tables, and in the report
    change = {row["task"]: row for row in summary["rl_minus_sft"]}
    assert set(change) == set(summary["accuracy"]["rl"])
    for task, row in change.items():
        rl, sft = summary["accuracy"]["rl"][task]["mean"], summary["accuracy"]["sft"][task]["mean"]
        assert (row["first"], row["second"], row["diff"]) == pytest.approx((rl, sft, rl - sft))
    assert f"RL - SFT {change['mean over tasks']['diff']:+.3f}, 95% CI" in text
    # the constant-answer column: each task's constant is chosen, but with one held-out record per task none
    # can be chosen without the record it answers, so every cell says so
    assert set(summary["constant"]["answers"]) == set(summary["sft"]) - {"all"}
    assert summary["constant"]["accuracy"] == {}
    assert "| RL - SFT (95% CI) | constant |" in text and "| multiple choice | 1 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| multiple choice | 1 |"))
    assert row.split(" | ")[5] == "n/a"
    # the RL checkpoint's length-matched pass (plan.length_matched): with one record per task every record keeps
    # its own media, so it answers as with the right media and the gap is 0 on every task
    matched = {r["task"]: r for r in summary["blind_matched"]["rl"]}
    assert set(matched) == set(summary["accuracy"]["rl"]) and "sft" not in summary["blind_matched"]
    assert all(r["gap"] == 0 for r in matched.values())
    assert "| gap RL, length-matched |" in text and row.endswith("| +0.000 |")
    assert "with media of about the same length (video seconds, image pixels) the RL gap is +0.000" in text
    rl_rows = [json.loads(x) for x in (tmp_path / "qs" / "eval" / "rl_predictions.jsonl").read_text().splitlines()]
    assert [r["matched_response"] for r in rl_rows] == [r["response"] for r in rl_rows]
    predictions = [json.loads(x) for x in (tmp_path / "qs" / "eval" / "rl_predictions.jsonl").read_text().splitlines()]
    assert all("swapped_response" in row for row in predictions)
    rl_yaml = (tmp_path / "qs" / "configs" / "rl.yaml").read_text()
    assert "filter_key: accuracy" in rl_yaml and "balance_tasks: true" in rl_yaml
    rollout = load_config(RLConfig, tmp_path / "qs" / "configs" / "rl.yaml", []).rollout
    assert (rollout.temperature, rollout.max_tries, rollout.refill) == (plan.rl_temperature, plan.rl_max_tries,
                                                                         plan.rl_refill)
    assert "groups filtered on accuracy, each dropped group refilled from its task)" in text
    assert len((tmp_path / "qs" / "eval" / "rl_predictions.jsonl").read_text().splitlines()) == 12
    # The run evaluated in a helper process (SFT beside RL, the swapped pass beside the right one): one process
    # alone gives the same answers, and progress counts both passes.
    from onethinker.quickstart import Helper, answer, evaluate

    test_file = tmp_path / "qs" / "data" / plan.eval_split / "data.jsonl"
    for name in ("sft", "rl"):
        alone = evaluate(plan, tmp_path / "qs" / name / "final", test_file, f"{name}_alone")
        ran = [json.loads(x) for x in (tmp_path / "qs" / "eval" / f"{name}_predictions.jsonl").read_text().splitlines()]
        solo = [json.loads(x) for x in Path(alone["predictions"]).read_text().splitlines()]
        for key in ("response", "swapped_response"):
            assert [r[key] for r in ran] == [r[key] for r in solo]
        assert alone["blind"] == summary["blind"][name]
    seen = []
    with Helper() as helper:
        again = evaluate(plan, tmp_path / "qs" / "rl" / "final", test_file, "rl_again", on_batch=seen.append,
                         helper=helper)
        # an error in the helper comes back to the caller
        with pytest.raises(ValueError, match="kind must be"):
            helper.submit(answer, plan, tmp_path / "qs" / "rl" / "final", test_file, "sideways").result()
    assert again["blind"] == summary["blind"]["rl"] and max(seen) == 2 * plan.eval_size
    # the length-matched pass reads every record's media length; with one record per task nobody has a
    # partner, so every record keeps its own media and gets its right-media answer
    ran = [json.loads(x) for x in (tmp_path / "qs" / "eval" / "rl_predictions.jsonl").read_text().splitlines()]
    assert answer(plan, tmp_path / "qs" / "rl" / "final", test_file, "matched") == [r["response"] for r in ran]


@pytest.mark.parametrize(("cores", "helper"), [({0}, False), ({0, 1}, True)])
def test_quickstart_command_uses_helper_processes_only_with_a_second_core(tmp_path, monkeypatch, cores, helper):
    from onethinker import quickstart

    plans = []

    def stop(plan, console=None):
        plans.append(plan)
        raise RuntimeError("stop before the run")

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: cores, raising=False)  # the CPUs this process may use
    monkeypatch.setattr(quickstart, "run_quickstart", stop)
    result = runner.invoke(app, ["quickstart", "--out", str(tmp_path / "q")])
    assert isinstance(result.exception, RuntimeError) and [p.helper for p in plans] == [helper]
    # --sft-repeat TASK=N sets that task's count
    runner.invoke(app, ["quickstart", "--out", str(tmp_path / "q"), "--sft-repeat", "segmentation/video=3"])
    assert plans[-1].sft_repeats == {"segmentation/video": 3}


def test_sft_mix_repeats_the_tasks_the_plan_names_and_refuses_misaligned_files(tmp_path):
    from collections import Counter

    from onethinker.data import read_records
    from onethinker.data.synth import synthesize
    from onethinker.quickstart import QuickstartPlan, make_sft_mix

    train = synthesize(tmp_path / "data" / "train", 24, 0, split="train", difficulty=0.0) / "data.jsonl"
    records = [record for _, record in read_records(train)]
    lines = (train.parent / "sft.jsonl").read_text().splitlines()
    plan = QuickstartPlan(out=tmp_path, perception_replay=0, sft_repeats={"numerical": 3, "segmentation/video": 2})
    mix = make_sft_mix(plan, train, None).read_text().splitlines()

    def media(row):  # a line's media, whichever kind, without the mix's "train/" prefix
        row = json.loads(row)
        return tuple(m.removeprefix("train/") for m in row.get("images", []) + row.get("videos", []))

    seen = Counter(media(row) for row in mix)
    times = {"numerical": 3, "segmentation/video": 2}
    assert [seen[media(line)] for line in lines] == [times.get(record.key, 1) for record in records]
    assert len(mix) == 24 + 2 * 2 + 2 * 1
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        make_sft_mix(QuickstartPlan(out=tmp_path, sft_repeats={"tracking": 0}), train, None)
    (train.parent / "sft.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="has 23 lines but .* has 24 records"):
        make_sft_mix(plan, train, None)


def test_quickstart_refuses_nonsense_sizes(tmp_path):
    result = runner.invoke(app, ["quickstart", "--out", str(tmp_path / "q"), "--rl-steps", "0"])
    assert result.exit_code == 2 and "--rl-steps must be >= 1" in result.output
    for bad in ("tracking=0", "tracking=two", "trackin=2", "tracking"):
        result = runner.invoke(app, ["quickstart", "--out", str(tmp_path / "q"), "--sft-repeat", bad])
        assert result.exit_code == 2 and f"got {bad!r}" in " ".join(result.output.split())


def test_warm_up_and_sft_in_two_processes_match_one_process(tmp_path):
    """With a helper of two workers the warm-up and SFT train data-parallel, each process taking half of every
    batch: the same losses and weights as one process (up to float summation order), rank 0's progress
    relayed, and each config holding a process's share of the batch."""
    from safetensors.torch import load_file

    from onethinker.quickstart import (
        Helper,
        QuickstartPlan,
        cold_start,
        make_data,
        sft_config,
        two_process_train,
    )
    from onethinker.train.config import SFTConfig, load_config
    from onethinker.train.sft import train_sft

    sizes = {"train_size": 24, "eval_size": 12, "sft_steps": 3, "sft_batch": 4, "hidden_size": 64, "layers": 1,
             "threads": 1, "perception_size": 6, "perception_steps": 2}
    runs = {}
    for name in ("one", "two"):
        plan = QuickstartPlan(out=tmp_path / name, **sizes)
        train_file, _ = make_data(plan)
        timings, seen = {}, []
        progress = {"stage": lambda label, total: label,
                    "update": lambda bar, completed, description, seen=seen: seen.append((bar, completed))}
        if name == "two":
            with Helper(workers=2) as helper:
                model = cold_start(plan, train_file, timings=timings, helper=helper, **progress)
        else:
            model = cold_start(plan, train_file, timings=timings, **progress)
        assert model == tmp_path / name / "sft" / "final" and {"perception warm-up", "SFT"} <= set(timings)
        assert seen == [("perception", 1), ("perception", 2), ("SFT", 1), ("SFT", 2), ("SFT", 3)]
        losses = {stage: [json.loads(x)["loss"] for x in (tmp_path / name / stage / "metrics.jsonl").read_text()
                          .splitlines()] for stage in ("perception", "sft")}
        batch = {stage: load_config(SFTConfig, tmp_path / name / "configs" / f"{stage}.yaml", []).trainer.batch_size
                 for stage in ("perception", "sft")}
        runs[name] = losses, load_file(model / "model.safetensors"), batch
    (loss_1, weights_1, batch_1), (loss_2, weights_2, batch_2) = runs["one"], runs["two"]
    assert batch_1 == {"perception": 8, "sft": 4} and batch_2 == {"perception": 4, "sft": 2}
    for stage in ("perception", "sft"):
        assert len(loss_2[stage]) == len(loss_1[stage]) and loss_2[stage] == pytest.approx(loss_1[stage], rel=1e-5)
    assert weights_2.keys() == weights_1.keys()
    for key, value in weights_1.items():
        assert (weights_2[key] - value).abs().max() <= 1e-5 * (1 + value.abs().max()), key
    # a stage that fails (here: no data file) fails in the caller, from either rank, and does not hang
    bad = QuickstartPlan(out=tmp_path / "bad", **sizes)
    cfg = sft_config(bad, tmp_path / "one" / "sft" / "final", tmp_path / "missing.jsonl", processes=2)
    with Helper(workers=2) as helper, pytest.raises(Exception, match="missing.jsonl"):
        two_process_train(helper, [(train_sft, cfg)])
    with pytest.raises(ValueError, match="a batch of 4 does not split over 3 processes"):
        sft_config(bad, tmp_path / "one" / "sft" / "final", tmp_path / "missing.jsonl", processes=3)


def test_rl_in_two_helper_processes_matches_one_process(tiny_model, tmp_path):
    """RL in the helper's two workers as :func:`two_process_train` runs it (each generating, scoring and
    training on its share of a step's groups): the same rollouts, rewards, filtering and EMA statistics as one
    process, weights equal up to float summation order, and rank 0's progress relayed. The records and
    settings are those of tests/train/test_distributed_train.py, one-letter rollouts whose accuracy varies, so
    groups are kept, dropped and refilled, and the weights move."""
    from accelerate_driver import train_rl_letters
    from safetensors.torch import load_file
    from test_distributed_train import (
        MEDIA,
        _max_weight_diff,
        _rl_file,
        _rl_overrides,
        assert_same_rl_steps,
    )

    from onethinker.quickstart import Helper, two_process_train
    from onethinker.train.config import RLConfig, load_config

    data = _rl_file(tmp_path / "data")
    rows, seen = {}, {"one": [], "two": []}
    for name in ("one", "two"):
        cfg = load_config(RLConfig, None, [*MEDIA, *_rl_overrides(tiny_model, data, tmp_path / name)])
        if name == "two":
            with Helper(workers=2) as helper:
                seconds = two_process_train(helper, [(train_rl_letters, cfg)], lambda index, step, m:
                                            seen["two"].append((index, step, m["reward/overall"])))
            assert len(seconds) == 1 and seconds[0] > 0
        else:
            train_rl_letters(cfg, progress=lambda step, n, m: seen["one"].append((0, step, m["reward/overall"])))
        rows[name] = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    assert seen["two"] == seen["one"] and [s[1] for s in seen["one"]] == [1, 2, 3, 4]
    assert sum(r.get("actor/updates", 0) for r in rows["one"]) > 0  # groups were kept and trained on
    assert_same_rl_steps(rows["two"], rows["one"])
    one = load_file(tmp_path / "one" / "final" / "model.safetensors")
    start = load_file(tiny_model / "model.safetensors")
    assert any((one[k] - start[k]).abs().max() > 1e-4 for k in one)  # RL moved the weights
    worst, mean = _max_weight_diff(tmp_path / "two" / "final", tmp_path / "one" / "final")
    assert worst < 1e-4 and mean < 1e-6, (worst, mean)
