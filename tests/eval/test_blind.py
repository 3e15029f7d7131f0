"""The blind control: media swapped only within a task, ground truths kept, a seeded derangement, the per-task
table's paired numbers, and the `eval run --blind` / `eval score --blind-pred` path against a loopback server
that answers correctly only when it sees a record's own media."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from onethinker.cli import app
from onethinker.data import read_records
from onethinker.data.media import probe_video
from onethinker.eval.blind import (
    blind_control,
    blind_table,
    compare_predictions,
    media_lengths,
    record_accuracy,
    swap_media,
    write_swapped_benchmark,
)

from .conftest import StandInServer, reference_answers

runner = CliRunner()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Two records of each of the twelve tasks (images and videos), with media and masks."""
    from onethinker.data import synthesize

    return synthesize(tmp_path_factory.mktemp("blind"), 24, 1, split="test")


def _records(bench):
    return [r for _, r in read_records(bench / "data.jsonl")]


def _mc(i: int, **extra) -> dict:
    return {"problem": "<image>Which colour?", "problem_type": "multiple choice", "data_type": "image",
            "options": ["A. red", "B. blue"], "answer": "AB"[i % 2], "images": [f"img/{i}.png"], **extra}


def test_swaps_only_within_a_task_and_keeps_everything_but_media(bench):
    records = _records(bench)
    swap = swap_media(records, seed=0)
    assert len(swap.records) == len(records) and swap.unchanged == [] and swap.note == ""
    for i, (before, after) in enumerate(zip(records, swap.records)):
        donor = records[swap.donors[i]]
        assert swap.donors[i] != i and donor.key == before.key and donor.data_type == before.data_type
        assert after.media == donor.media and after.media != before.media
        # question, options, ground truth, masks and every other field are the record's own
        same = before.model_dump(exclude={"images", "videos"})
        assert after.model_dump(exclude={"images", "videos"}) == same
        assert after.ground_truth == before.ground_truth
    assert records[0].media != swap.records[0].media  # the input was not modified in place ...
    assert [r.media for r in records] == [r.media for r in _records(bench)]  # ... anywhere


def test_a_derangement_deterministic_from_the_seed():
    records = [_mc(i) for i in range(9)] + [{**_mc(i + 9), "problem_type": "numerical", "answer": "3"}
                                           for i in range(5)]
    first, again, other = swap_media(records, 3), swap_media(records, 3), swap_media(records, 4)
    assert first.donors == again.donors and [r["images"] for r in first.records] == \
        [r["images"] for r in again.records]
    assert first.donors != other.donors  # the seed chooses the swap
    assert sorted(first.donors) == list(range(14))  # every record's media go to exactly one other record
    assert all(first.donors[i] != i for i in range(14))
    assert all((first.donors[i] < 9) == (i < 9) for i in range(14))  # within each task
    assert [r["answer"] for r in first.records] == [r["answer"] for r in records]
    # Adding records to one task leaves the other task's swap as it was.
    more = swap_media(records + [_mc(20)], 3)
    assert more.donors[9:14] == first.donors[9:14]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["multiple choice", "numerical", "OCR", "math"]), max_size=30), st.integers(0, 99))
def test_any_corpus_swaps_within_tasks_and_moves_every_media_list_once(tasks, seed):
    records = [{**_mc(i), "problem_type": task} for i, task in enumerate(tasks)]
    swap = swap_media(records, seed)
    sizes = {task: tasks.count(task) for task in tasks}
    assert sorted(swap.donors) == list(range(len(records)))  # a permutation: no media lost or doubled
    for i, donor in enumerate(swap.donors):
        assert tasks[donor] == tasks[i] and swap.records[i]["images"] == records[donor]["images"]
        assert (donor == i) == (sizes[tasks[i]] == 1)  # only a task's single record keeps its own media
        assert swap.records[i]["answer"] == records[i]["answer"]
    assert swap.unchanged == [i for i in range(len(records)) if sizes[tasks[i]] == 1]


def test_a_task_with_one_record_keeps_its_media_and_says_so():
    records = [_mc(0), _mc(1), {**_mc(2), "problem_type": "OCR", "answer": "HELLO"},
               {**_mc(3), "images": [], "problem": "Which colour?"}]
    swap = swap_media(records, 0)
    assert swap.donors[:2] == [1, 0]
    assert swap.unchanged == [2, 3] and swap.records[2]["images"] == ["img/2.png"]
    assert "2 of 4 records kept their own media" in swap.note and "ocr (1)" in swap.note.lower()


def test_image_and_video_records_of_one_task_are_not_mixed():
    records = [_mc(0), _mc(1), {**_mc(2), "data_type": "video", "images": [], "videos": ["v/2.mp4"]},
               {**_mc(3), "data_type": "video", "images": [], "videos": ["v/3.mp4"]}]
    swap = swap_media(records, 0)
    assert swap.donors == [1, 0, 3, 2]
    assert swap.records[2]["videos"] == ["v/3.mp4"] and swap.records[2]["images"] == []


def test_a_length_matched_swap_pairs_neighbours_by_length():
    # seven records of one task; by length the order is 3, 0, 5, 1, 6, 2, 4: pairs (3, 0), (5, 1), then a
    # 3-cycle through 6, 2, 4, whatever the seed
    lengths = [2.0, 4.0, 6.0, 1.0, 9.0, 3.0, 5.0]
    records = [_mc(i) for i in range(7)]
    for seed in (0, 1, 2):
        swap = swap_media(records, seed, lengths=lengths)
        assert swap.donors == [3, 5, 4, 0, 6, 1, 2] and swap.unchanged == []
        assert [r["answer"] for r in swap.records] == [r["answer"] for r in records]
    # partners stay within a task, and ties are broken by the seeded order
    mixed = [*records[:4], *({**_mc(i), "problem_type": "numerical", "answer": "3"} for i in range(4, 8))]
    swap = swap_media(mixed, 0, lengths=[1.0] * 8)
    assert all((swap.donors[i] < 4) == (i < 4) for i in range(8)) and all(swap.donors[i] != i for i in range(8))
    assert sorted(swap.donors) == list(range(8))
    with pytest.raises(ValueError, match="3 lengths for 7 records"):
        swap_media(records, 0, lengths=[1.0, 2.0, 3.0])


def test_media_lengths_read_seconds_and_pixels(bench):
    records = _records(bench)
    lengths = media_lengths(records, bench)
    for record, length in zip(records, lengths):
        if record.videos:
            assert length == pytest.approx(probe_video(bench / record.videos[0]).duration) and 0 < length < 30
        else:
            width, height = record.resolution
            assert length == width * height
    with pytest.raises(ValueError, match="record 0: images: cannot read"):
        media_lengths([{**_mc(0), "images": ["missing.png"]}], bench)


def test_table_numbers_on_a_hand_computed_case():
    tasks = ["a", "a", "a", "b", "b"]
    rows = blind_table(tasks, [1, 1, 0, 1, 0], [0, 1, 0, 0, 0])
    a, b, mean = rows
    assert (a.task, a.n, b.task, b.n, mean.n) == ("a", 3, "b", 2, 5)
    # task a: differences (1, 0, 0): mean 1/3, sample sd sqrt(1/3), se 1/3, t(0.975, 2) = 4.302653
    assert a.right == pytest.approx(2 / 3) and a.swapped == pytest.approx(1 / 3) and a.gap == pytest.approx(1 / 3)
    assert a.se == pytest.approx(1 / 3)
    assert (a.low, a.high) == pytest.approx((1 / 3 - 4.302653 / 3, 1 / 3 + 4.302653 / 3), abs=1e-5)
    # task b: differences (1, 0): mean 1/2, sd sqrt(1/2), se 1/2, t(0.975, 1) = 12.706205
    assert b.gap == pytest.approx(0.5) and b.se == pytest.approx(0.5)
    assert b.high == pytest.approx(0.5 + 12.706205 / 2, abs=1e-5)
    # mean over tasks: each task weighs the same; se sqrt(1/9 + 1/4) / 2, normal 1.959964
    assert mean.right == pytest.approx((2 / 3 + 1 / 2) / 2) and mean.gap == pytest.approx(5 / 12)
    assert mean.se == pytest.approx(math.sqrt(1 / 9 + 1 / 4) / 2)
    assert mean.low == pytest.approx(5 / 12 - 1.959964 * mean.se, abs=1e-6)
    one = blind_table(["c"], [1.0], [0.0])[0]
    assert one.gap == 1.0 and math.isnan(one.se) and math.isnan(one.low)
    with pytest.raises(ValueError, match="differ in length"):
        blind_table(["a"], [1, 0], [0])


def test_rl_minus_sft_is_the_same_paired_table_with_its_interval():
    from onethinker.eval.blind import paired_table
    from onethinker.quickstart import rl_minus_sft

    tasks = ["a", "a", "a", "a", "b", "b"]
    rl, sft = [1, 1, 0, 1, 0.5, 0.25], [0, 1, 0, 0, 0.25, 0.25]
    a, b, mean = paired_table(tasks, rl, sft)
    # task a: differences (1, 0, 0, 1): mean 1/2, sample sd sqrt(1/3), se sqrt(1/12), t(0.975, 3) = 3.182446
    assert (a.first, a.second, a.diff) == pytest.approx((3 / 4, 1 / 4, 1 / 2))
    assert a.se == pytest.approx(math.sqrt(1 / 12))
    assert (a.low, a.high) == pytest.approx((0.5 - 3.182446 * math.sqrt(1 / 12), 0.5 + 3.182446 * math.sqrt(1 / 12)),
                                            abs=1e-5)
    # task b: differences (1/4, 0): mean 1/8, se 1/8
    assert (b.diff, b.se) == pytest.approx((1 / 8, 1 / 8))
    assert mean.diff == pytest.approx(5 / 16) and mean.se == pytest.approx(math.sqrt(1 / 12 + 1 / 64) / 2)
    # the blind control is this table of right against swapped media
    blind = blind_table(tasks, rl, sft)
    assert [(r.task, r.right, r.swapped, r.gap, r.se) for r in blind] == \
        [(r.task, r.first, r.second, r.diff, r.se) for r in (a, b, mean)]
    # from two evaluations of the same records; NaN goes to JSON as None
    sft_eval, rl_eval = {"tasks": tasks, "record_accuracy": sft}, {"tasks": tasks, "record_accuracy": rl}
    rows = rl_minus_sft(sft_eval, rl_eval)
    assert rows[-1]["diff"] == pytest.approx(5 / 16) and rows[0]["first"] == pytest.approx(3 / 4)
    assert paired_table(["c"], [1.0], [0.0])[0].as_dict()["low"] is None
    with pytest.raises(ValueError, match="different records"):
        rl_minus_sft(sft_eval, {"tasks": tasks[::-1], "record_accuracy": rl})


def test_accuracy_is_the_rewards_accuracy_part(bench):
    rows = [r.model_dump() for r in _records(bench)[:12]]
    right = record_accuracy([{**r, "response": r["sft_response"]} for r in rows])
    wrong = record_accuracy([{**r, "response": "<think>no idea</think><answer>?</answer>"} for r in rows])
    assert right == [1.0] * 12 and wrong == [0.0] * 12
    # the same table from responses the caller generated: the right answers, then a wrong answer for all
    records = _records(bench)[:12]
    table = blind_control(records, [r.extra("sft_response") for r in records], ["<answer>?</answer>"] * 12)
    assert [row.gap for row in table] == [1.0] * 13 and table[-1].task == "mean over tasks"


def test_eval_run_blind_and_eval_score_blind_pred(bench, tmp_path):
    # The server answers a record correctly only when the request carries that record's own media.
    answers = reference_answers(bench / "data.jsonl", bench)
    out = tmp_path / "pred.jsonl"
    with StandInServer(answers) as server:
        result = runner.invoke(app, ["eval", "run", "--model", server.url, "--bench", str(bench / "data.jsonl"),
                                     "--media-root", str(bench), "--out", str(out), "--blind", "--blind-seed", "5",
                                     "--max-new-tokens", "64", "--constant"])
    assert result.exit_code == 0, result.output
    assert len(server.bodies) == 48  # every record answered twice: right media, then swapped media
    swapped = [r for _, r in read_records(tmp_path / "pred.blind-bench.jsonl")]
    assert [r.ground_truth for r in swapped] == [r.ground_truth for r in _records(bench)]
    # Each blind request carried the donor's media: the server answered what it answers for that request
    # (a record whose question matches its donor's gets the donor's right answer: a model that looks).
    swapped_answers = reference_answers(tmp_path / "pred.blind-bench.jsonl", bench)
    blind_rows = [json.loads(x) for x in (tmp_path / "pred.blind.jsonl").read_text().splitlines()]
    original = {r.problem_id: r.extra("sft_response") for r in _records(bench)}
    for row in blind_rows:
        assert row["response"] in (*swapped_answers.values(), "<think>?</think><answer>?</answer>")
        assert row["response"] != original[row["problem_id"]]
    table = json.loads((tmp_path / "pred.blind.json").read_text())
    rows = {r["task"]: r for r in table["rows"]}
    assert len(rows) == 13 and table["unpaired"] == 0
    for task, row in rows.items():
        # ROUGE gives partial credit: two scene descriptions share most of their words ("The image shows a ...")
        low, gap = (0.85, 0.15) if task == "open-ended" else (0.7, 0.3)
        assert row["right"] == 1.0 and row["swapped"] < low and row["gap"] > gap, task
    assert rows["mean over tasks"]["gap"] > 0.9
    assert "blind control" in result.output and "mean over tasks" in result.output
    assert "Blind control" in (tmp_path / "pred.md").read_text()
    # --constant: every answer is right; each record's constant is the other record's answer of its task, which
    # differs from its own in this benchmark, so the model beats the constant on every task
    constant = json.loads((tmp_path / "pred.constant.json").read_text())
    assert len(constant["rows"]) == 13 and set(constant["answers"]) == set(rows) - {"mean over tasks"}
    assert all(r["model"] == 1.0 and r["model_minus_constant"] > 0 for r in constant["rows"])
    assert "Constant-answer baseline" in (tmp_path / "pred.md").read_text()

    # eval score prints the same table from the two prediction files
    again = runner.invoke(app, ["eval", "score", str(out), "--media-root", str(bench),
                                "--blind-pred", str(tmp_path / "pred.blind.jsonl")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "pred.blind.json").read_text())["rows"] == table["rows"]
    rows_py, unpaired = compare_predictions(out, tmp_path / "pred.blind.jsonl")
    assert unpaired == 0 and rows_py[-1].gap == pytest.approx(rows["mean over tasks"]["gap"])

    # --blind-match length: another swap (partners by media length), in files of its own; the right-media
    # predictions are reused, so only the swapped pass is asked for
    with StandInServer(answers) as server:
        again = runner.invoke(app, ["eval", "run", "--model", server.url, "--bench", str(bench / "data.jsonl"),
                                    "--media-root", str(bench), "--out", str(out), "--blind", "--blind-match",
                                    "length", "--max-new-tokens", "64"])
    assert again.exit_code == 0, again.output
    assert len(server.bodies) == 24
    records = _records(bench)
    expected = swap_media(records, 0, lengths=media_lengths(records, bench)).records
    matched = [r for _, r in read_records(tmp_path / "pred.blind-length-bench.jsonl")]
    assert [r.media for r in matched] == [r.media for r in expected]
    length_rows = json.loads((tmp_path / "pred.blind-length.json").read_text())["rows"]
    assert len(length_rows) == 13 and all(r["right"] == 1.0 for r in length_rows)
    assert json.loads((tmp_path / "pred.blind.json").read_text())["rows"] == table["rows"]  # the first one stays
    bad = runner.invoke(app, ["eval", "run", "--model", "http://127.0.0.1:9", "--bench", str(bench / "data.jsonl"),
                              "--blind", "--blind-match", "size"])
    assert bad.exit_code == 2 and "--blind-match must be" in " ".join(bad.output.split())
    # a video that cannot be read is named with the benchmark's file, line and field
    broken = tmp_path / "broken.jsonl"
    rows = [r.model_dump(mode="json", exclude_none=True) for r in _records(bench)]
    video = next(i for i, r in enumerate(rows) if r.get("videos"))
    rows[video]["videos"] = ["media/missing.mp4"]
    broken.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=rf"{broken}:{video + 1}: videos: cannot read .*missing.mp4"):
        write_swapped_benchmark(broken, tmp_path / "b.jsonl", match_length=True, media_root=bench)


def test_score_blind_pred_names_a_bad_line(bench, tmp_path):
    rows = [r.model_dump(mode="json") for r in _records(bench)[:2]]
    good = tmp_path / "p.jsonl"
    good.write_text("".join(json.dumps({**r, "response": "x", "bench_line": i}) + "\n" for i, r in enumerate(rows)))
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps({**rows[0], "response": "x", "bench_line": 0}) + "\n"
                   + json.dumps({**rows[1], "bench_line": 1}) + "\n")
    result = runner.invoke(app, ["eval", "score", str(good), "--blind-pred", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: response" in " ".join(result.output.split())
