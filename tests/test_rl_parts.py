"""benchmarks/rl_parts.py: the SFT weights plus one part of a trained checkpoint's move, scored against SFT."""

import json
import re
import shutil

import pytest


@pytest.fixture(scope="module")
def rl_parts(load_benchmark):
    return load_benchmark("rl_parts")


@pytest.fixture(scope="module")
def folder(quickstart_rl_folder, tmp_path_factory):
    """A copy of the quickstart folder (the other RL benchmarks' tests count its files) with an RL checkpoint."""
    from onethinker.train.config import RLConfig, load_config
    from onethinker.train.rl import train_rl

    root = tmp_path_factory.mktemp("parts") / "qs"
    shutil.copytree(quickstart_rl_folder, root, ignore=shutil.ignore_patterns("screen_*", "rl", "parts"))
    cfg = load_config(RLConfig, root / "configs" / "rl.yaml",
                      [f"model.path={root / 'sft' / 'final'}", f"trainer.output_dir={root / 'rl'}"])
    train_rl(cfg)
    return root


def _weights(path):
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_the_default_parts_partition_the_model(rl_parts, folder):
    names = rl_parts.parameter_names(folder / "sft" / "final")
    parts, partition = rl_parts.default_parts(names)
    assert partition[0] == "embeddings" and "layer0" in partition and "vision" in partition
    owners = {n: [p for p in partition if re.search(parts[p], n)] for n in names}
    assert all(len(found) == 1 for found in owners.values()), owners  # every parameter in exactly one part
    assert {n for n in names if re.search(parts["all-but-embeddings"], n)} == {
        n for n, found in owners.items() if found != ["embeddings"]}
    assert any(found == ["rest"] for found in owners.values())  # the final norm is in no layer


def test_a_mix_takes_the_part_from_the_trained_weights_and_the_rest_from_sft(rl_parts, folder, tmp_path):
    sft, rl = folder / "sft" / "final", folder / "rl" / "final"
    out = rl_parts.mix(sft, rl, r"language_model\.layers\.0\.", tmp_path / "mix")
    mixed, base, moved = _weights(out), _weights(sft), _weights(rl)
    changed = {k for k in base if not base[k].equal(moved[k])}
    assert any("layers.0." in k for k in changed) and any("layers.0." not in k for k in changed)
    for k in base:
        assert mixed[k].equal(moved[k] if "language_model.layers.0." in k else base[k]), k
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert rl_parts.mix(sft, rl, r"language_model\.layers\.0\.", tmp_path / "mix") == out  # reused
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    (rl / "model.safetensors").touch()  # trained again since: mixed again
    rl_parts.mix(sft, rl, r"language_model\.layers\.0\.", tmp_path / "mix")
    assert (out / "model.safetensors").stat().st_mtime_ns > stamp
    with pytest.raises(SystemExit, match="matches no parameter"):
        rl_parts.mix(sft, rl, r"layers\.99\.", tmp_path / "none")


def test_parts_are_answered_and_paired_with_sft(rl_parts, folder):
    from onethinker.data import read_records
    from onethinker.quickstart import QuickstartPlan, answer, score_answers

    with pytest.raises(SystemExit, match="rl_screen.py first"):
        rl_parts.parts_of([folder], ["control"], "check")
    parts = {"everything": ".", "layer0": r"language_model\.layers\.0\."}
    [result] = rl_parts.parts_of([folder], ["rl"], "check", parts)
    rows = result["rows"]["rl"]
    assert list(rows) == ["whole", "everything", "layer0"] and result["partition"] == []
    assert _weights(folder / "parts" / "rl@everything" / "final").keys() == _weights(folder / "rl" / "final").keys()
    assert rows["everything"] == rows["whole"]  # all of the move is the checkpoint itself
    test_file = folder / "check_check" / "data" / "check" / "data.jsonl"
    records = [r for _, r in read_records(test_file)]
    plan = QuickstartPlan(out=folder / "check_check", seed=3, max_new_tokens=6, threads=1)

    def accuracy(checkpoint):
        return [s["accuracy"] for s in score_answers(records, answer(plan, checkpoint, test_file, "right"))]

    sft, mixed = accuracy(folder / "sft" / "final"), accuracy(folder / "parts" / "rl@layer0" / "final")
    per_task = {}
    for record, a, b in zip(records, mixed, sft, strict=True):
        per_task.setdefault(record.key, []).append(a - b)
    assert rows["layer0"]["diff"] == pytest.approx(sum(sum(d) / len(d) for d in per_task.values()) / len(per_task))
    assert rows["layer0"]["low"] <= rows["layer0"]["diff"] <= rows["layer0"]["high"]
    kept = {p: p.stat().st_mtime_ns for p in (folder / "screen_check").glob("*.json")}
    assert {p.name for p in kept} == {"sft.json", "rl.json", "rl@everything.json", "rl@layer0.json"}
    assert rl_parts.parts_of([folder], ["rl"], "check", parts) == [result]  # reused, nothing answered again
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    # the pairing, on kept accuracies that differ (the random tiny model scores 0 everywhere)
    from rl_screen import _stamp

    known = {"sft": [0.0, 0.5, 1.0, 0.0, 0.2, 0.4], "rl@layer0": [1.0, 0.5, 0.0, 1.0, 0.6, 0.4]}
    for label, values in known.items():
        path = folder / "sft" / "final" if label == "sft" else folder / "parts" / label / "final"
        (folder / "screen_check" / f"{label}.json").write_text(json.dumps(
            {"checkpoint": str(path), "stamp": _stamp(path), "accuracy": values}))
    by_task = {}
    for record, a, b in zip(records, known["rl@layer0"], known["sft"], strict=True):
        by_task.setdefault(record.key, []).append(a - b)
    assert len(by_task) == 3
    expected = sum(sum(d) / len(d) for d in by_task.values()) / len(by_task)
    [paired] = rl_parts.parts_of([folder], ["rl"], "check", parts)
    row = paired["rows"]["rl"]["layer0"]
    assert row["diff"] == pytest.approx(expected) and expected != 0
    assert row["acc"] == pytest.approx(sum(known["rl@layer0"]) / 6)  # two records a task: the plain mean
    assert row["low"] < row["diff"] < row["high"]


def test_bad_parts_are_refused(rl_parts):
    assert rl_parts.parse_parts([["a", "x"], ["b-c", "y\\."]]) == {"a": "x", "b-c": "y\\."}
    assert rl_parts.parse_parts(None) is None
    for bad, message in (([["a", "x"], ["a", "y"]], "repeated"), ([["whole", "x"]], "reserved"),
                         ([["a/b", "x"]], "letters"), ([["a", "layers[0"]], "not a regular expression")):
        with pytest.raises(SystemExit, match=message):
            rl_parts.parse_parts(bad)
