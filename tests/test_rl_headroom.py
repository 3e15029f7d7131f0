"""benchmarks/rl_headroom.py: mean@k, maj@k and pass@k of sampled answers, per task, beside the greedy answer."""

from types import SimpleNamespace

import pytest

from onethinker.eval.blind import ALL_TASKS


@pytest.fixture(scope="module")
def headroom(load_benchmark):
    return load_benchmark("rl_headroom")


def test_sample_summary_on_hand_computed_cases(headroom):
    # a 2-2 tie goes to the answer sampled first ("B", right)
    assert headroom.sample_summary([1.0, 0.0, 0.0, 1.0], ["B", "A", "A", "B"]) == {
        "mean": 0.5, "maj": 1.0, "pass": 1.0, "distinct": 2.0}
    assert headroom.sample_summary([0.0, 0.0, 1.0, 1.0], ["A", "A", "B", "B"])["maj"] == 0.0
    # a sample without an answer block does not vote, though its score counts in mean@k and pass@k
    s = headroom.sample_summary([0.9, 0.25, 0.25, 0.5], [None, "x", "x", "y"])
    assert s == {"mean": pytest.approx(0.475), "maj": 0.25, "pass": 0.9, "distinct": 2.0}
    assert headroom.sample_summary([0.0, 0.0], [None, None]) == {"mean": 0.0, "maj": 0.0, "pass": 0.0,
                                                                "distinct": 0.0}
    with pytest.raises(ValueError, match="one answer per accuracy"):
        headroom.sample_summary([1.0, 0.0], ["A"])


def row(greedy, mean, maj=0.0, best=1.0):
    return {"greedy": greedy, "mean": mean, "maj": maj, "pass": best, "distinct": 1.0}


def test_task_rows_average_records_then_tasks(headroom):
    records = [SimpleNamespace(key=k) for k in ("b", "a", "a", "a")]
    per_record = {0: row(1.0, 0.5, 1.0), 1: row(0.0, 0.25, 0.0), 2: row(1.0, 0.5, 1.0), 3: row(0.0, 0.0, 0.0, 0.0)}
    rows = headroom.task_rows(records, per_record)
    assert list(rows) == ["b", "a", ALL_TASKS]
    assert rows["a"] == {"greedy": pytest.approx(1 / 3), "mean": pytest.approx(0.25), "maj": pytest.approx(1 / 3),
                         "pass": pytest.approx(2 / 3), "n": 3}
    # the overall row is the mean over tasks, not over records
    assert rows[ALL_TASKS] == {"greedy": pytest.approx(2 / 3), "mean": pytest.approx(0.375),
                               "maj": pytest.approx(2 / 3), "pass": pytest.approx(5 / 6), "n": 4}


def test_rl_minus_sft_is_paired_and_weighs_tasks_equally(headroom):
    records = [SimpleNamespace(key=k) for k in ("a", "a", "b", "b", "b")]
    sft = [row(0.0, 0.25), row(1.0, 0.5), row(0.0, 0.0), row(0.0, 0.5), row(1.0, 1.0)]
    rl = [row(1.0, 0.5), row(1.0, 0.5), row(0.0, 0.25), row(1.0, 0.5), row(1.0, 1.0)]
    d = headroom.rl_minus_sft(records, rl, sft)
    # greedy: task a differs by (1, 0) -> 0.5, task b by (0, 1, 0) -> 1/3; mean over tasks 5/12
    assert d["greedy"]["diff"] == pytest.approx(5 / 12)
    # task a: se = std([1, 0], ddof=1) / sqrt(2) = 0.5; task b: std([0, 1, 0], ddof=1) / sqrt(3) = 1/3
    assert d["greedy"]["se"] == pytest.approx((0.25 + 1 / 9) ** 0.5 / 2)
    assert d["greedy"]["low"] == pytest.approx(5 / 12 - 1.959964 * d["greedy"]["se"])
    # mean@k: task a (0.25, 0) -> 0.125, task b (0.25, 0, 0) -> 1/12
    assert d["mean"]["diff"] == pytest.approx((0.125 + 1 / 12) / 2)


def test_two_parts_answer_every_record_once(headroom, tmp_path):
    from onethinker.data import read_records, synthesize
    from onethinker.models.tiny import build_tiny
    from onethinker.quickstart import QuickstartPlan

    root = synthesize(tmp_path / "d", 6, 0, split="check", tasks=["multiple choice", "temporal grounding"])
    test_file = root / "data.jsonl"
    model = build_tiny(tmp_path / "tiny", seed=0)
    media = QuickstartPlan(out=tmp_path).media
    parts = [headroom.answer_part(model, test_file, media, part, 2, 3, 1.0, 6, seed=part) for part in (0, 1)]
    n = len(list(read_records(test_file)))
    assert n == 6 and sorted([*parts[0], *parts[1]]) == list(range(n)) and not set(parts[0]) & set(parts[1])
    for row in (r for p in parts for r in p.values()):
        assert set(row) == {"greedy", "mean", "maj", "pass", "distinct"}
        assert 0.0 <= row["mean"] <= row["pass"] <= 1.0 and 0.0 <= row["maj"] <= row["pass"]
        assert 0.0 <= row["greedy"] <= 1.0 and 0.0 <= row["distinct"] <= 3.0
