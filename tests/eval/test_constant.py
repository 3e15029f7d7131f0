"""The constant-answer baseline: hand-computed leave-one-out choices, tasks kept apart, the paired table, the
candidate cap, bad input, and `eval score --constant` on a prediction file."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from onethinker.cli import app
from onethinker.eval.constant import (
    compare_constant,
    constant_baseline,
    constant_markdown,
    constant_table,
)

runner = CliRunner()


def _mc(answer: str, **extra) -> dict:
    return {"problem": "<image>Which?", "problem_type": "multiple choice", "data_type": "image",
            "options": ["A. a", "B. b", "C. c"], "answer": answer, **extra}


def _tg(start: float, end: float) -> dict:
    return {"problem": "<video>When?", "problem_type": "temporal grounding", "data_type": "video",
            "answer": json.dumps({"time": [start, end]})}


def test_each_record_gets_the_best_constant_of_the_others():
    # A A A B C: for an A record, A still scores 2 of the other 4 (B and C score 1 each); for B (or C) the
    # only eligible answers are A (3 of 4) and the other singleton (0), so it is answered "A" and scores 0.
    base = constant_baseline([_mc(x) for x in "AAABC"])
    assert base.accuracy == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert base.answers == {"multiple choice": "A"} and base.candidates == {"multiple choice": 3}


def test_an_answer_only_the_record_has_is_not_chosen_for_it():
    # A B B B: the A record cannot be answered "A" (no other record has it), so it gets "B" and scores 0.
    assert constant_baseline([_mc(x) for x in "ABBB"]).accuracy == [0.0, 1.0, 1.0, 1.0]
    # A A B B: for an A record, A scores 1 over the others and B 2: it gets "B" (0); the same the other way
    # round. Leave one out, a balanced task's constant is always wrong, as a prior that never saw the record.
    assert constant_baseline([_mc(x) for x in "AABB"]).accuracy == [0.0] * 4


def test_partial_credit_and_ties_on_a_hand_computed_interval_case():
    # IoU([0, 2], [1, 3]) = 1/3. For each [0, 2] record the others give [0, 2] 1 + 1 + 1/3 and [1, 3] 3 x 1/3:
    # it keeps [0, 2] (1.0); the [1, 3] record may not use its own interval and gets [0, 2] (1/3).
    base = constant_baseline([_tg(0, 2), _tg(0, 2), _tg(0, 2), _tg(1, 3)])
    assert base.accuracy == pytest.approx([1.0, 1.0, 1.0, 1 / 3])
    assert json.loads(base.answers["temporal grounding"]) == {"time": [0, 2]}
    # [0, 2] [1, 3]: each record's only eligible answer is the other one (1/3).
    assert constant_baseline([_tg(0, 2), _tg(1, 3)]).accuracy == pytest.approx([1 / 3, 1 / 3])
    # [0, 2] [0, 2] [1, 3] [1, 3]: for a [0, 2] record the others give [0, 2] 1 + 1/3 + 1/3 and [1, 3]
    # 1/3 + 1 + 1: it gets [1, 3] (1/3), and the other way round. Over all four records the two tie (8/3
    # each): the table shows the one seen first.
    two = constant_baseline([_tg(0, 2), _tg(0, 2), _tg(1, 3), _tg(1, 3)])
    assert two.accuracy == pytest.approx([1 / 3] * 4)
    assert json.loads(two.answers["temporal grounding"]) == {"time": [0, 2]}


def test_tasks_are_kept_apart_and_a_lone_record_has_no_baseline():
    numerical = {"problem": "<image>How many?", "problem_type": "numerical", "data_type": "image"}
    records = [_mc("A"), {**numerical, "answer": "3"}, _mc("A"), {**numerical, "answer": "3"},
               {**numerical, "answer": "5"}, _tg(0, 1)]
    base = constant_baseline(records)
    assert base.tasks == ["multiple choice", "numerical", "multiple choice", "numerical", "numerical",
                          "temporal grounding"]
    assert base.accuracy[:5] == [1.0, 1.0, 1.0, 1.0, 0.0] and math.isnan(base.accuracy[5])
    assert base.answers == {"multiple choice": "A", "numerical": "3", "temporal grounding": '{"time": [0, 1]}'}
    # The paired table leaves the lone record out and pairs the model with the constant record by record.
    rows = constant_table(base, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    by_task = {r.task: r for r in rows}
    assert set(by_task) == {"multiple choice", "numerical", "mean over tasks"}
    mc, num, mean = by_task["multiple choice"], by_task["numerical"], by_task["mean over tasks"]
    assert (mc.n, mc.first, mc.second, mc.diff) == (2, 0.5, 1.0, -0.5)
    assert (num.n, num.first, num.second) == (3, pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert num.diff == pytest.approx(0.0) and num.se == pytest.approx(math.sqrt(1 / 3))
    assert mean.n == 5 and mean.diff == pytest.approx(-0.25)
    assert rows[0].as_dict()["model_minus_constant"] == pytest.approx(-0.5)
    text = constant_markdown(rows, base.answers)
    assert "| multiple choice | 2 | 0.500 | 1.000 | -0.500 |" in text and "`A`" in text
    with pytest.raises(ValueError, match="6 records"):
        constant_table(base, [1.0])


def test_wrapped_answers_and_the_candidate_cap():
    # ground truths given as <answer>-wrapped solutions are scored and shown unwrapped
    records = [{**_mc("A"), "answer": None, "solution": f"<answer>{x}</answer>"} for x in "AAB"]
    base = constant_baseline(records)
    assert base.answers == {"multiple choice": "A"} and base.accuracy == [1.0, 1.0, 0.0]
    # at most max_candidates distinct answers are tried, a seeded sample: the same seed, the same result
    many = [_tg(k, k + 2) for k in range(12)]
    capped = constant_baseline(many, max_candidates=3, seed=4)
    assert capped.candidates == {"temporal grounding": 3}
    assert capped == constant_baseline(many, max_candidates=3, seed=4)
    assert constant_baseline(many).candidates == {"temporal grounding": 12}
    with pytest.raises(ValueError, match="at least 1"):
        constant_baseline(many, max_candidates=0)
    with pytest.raises(ValueError, match="record 1: answer"):
        constant_baseline([_mc("A"), {**_mc("A"), "answer": None}])


def test_eval_score_constant_on_a_prediction_file(tmp_path):
    rows = [{**_mc(x), "problem_id": f"p{i}", "response": f"<think>.</think><answer>{r}</answer>"}
            for i, (x, r) in enumerate(zip("AAABC", "AABBC"))]
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["eval", "score", str(pred), "--constant"])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "pred.constant.json").read_text())
    assert table["answers"] == {"multiple choice": "A"} and table["candidates"] == {"multiple choice": 3}
    first = table["rows"][0]
    # model: 1 1 0 1 1 (0.8); constant: 1 1 1 0 0 (0.6), as in the first test
    assert first["task"] == "multiple choice" and first["model"] == pytest.approx(0.8)
    assert first["constant"] == pytest.approx(0.6) and first["model_minus_constant"] == pytest.approx(0.2)
    assert "constant-answer baseline" in result.output
    rows_py, base = compare_constant(pred)
    assert rows_py[0].diff == pytest.approx(0.2) and base.accuracy == [1.0, 1.0, 1.0, 0.0, 0.0]
    # a row without a ground truth is named by file, line and field
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({**rows[1], "answer": None}) + "\n")
    result = runner.invoke(app, ["eval", "score", str(bad), "--constant"])
    assert result.exit_code == 2
    assert f"{bad}:2: answer" in " ".join(result.output.split())


def test_the_quickstart_column_is_the_baseline_per_task(tmp_path):
    from onethinker.data import synthesize
    from onethinker.quickstart import constant_answers

    bench = synthesize(tmp_path, 36, 3, split="test")  # three records of each task
    records = [json.loads(x) for x in (bench / "data.jsonl").read_text().splitlines()]
    base = constant_baseline(records)
    table = constant_answers(bench / "data.jsonl")
    assert table["answers"] == base.answers and len(table["accuracy"]) == 13
    tasks = [t for t in table["accuracy"] if t != "mean over tasks"]
    for task in tasks:
        values = [a for t, a in zip(base.tasks, base.accuracy) if t == task]
        assert table["accuracy"][task]["n"] == 3 and table["accuracy"][task]["mean"] == pytest.approx(sum(values) / 3)
    assert table["accuracy"]["mean over tasks"]["mean"] == pytest.approx(
        sum(table["accuracy"][t]["mean"] for t in tasks) / 12)
