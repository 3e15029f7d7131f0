"""score_batch pinned on hand-computed cases: one per task, and each malformed-answer class.

overall = 0.9 * accuracy + 0.1 * format + structure; structure is 0.5 for a non-empty answer to a
non-structured task, 0.5 for a schema-valid answer to temporal/spatial grounding and segmentation, and
0.25 + 0.25 * frame-key overlap for spatial-temporal grounding and tracking; 0 whenever format is 0.
"""

from __future__ import annotations

import math

import pytest

from onethinker.rewards import score_batch, score_item


def wrap(answer: str) -> str:
    return f"<think>reasoning</think>\n<answer>{answer}</answer>"


def item(problem_type, answer, gt, data_type="image", raw=False):
    return {"response": answer if raw else wrap(answer), "ground_truth": gt, "problem_type": problem_type,
            "data_type": data_type}


SEG_GT = ('{"boxes": [0, 0, 100, 100], "positive_points": [[10, 10], [20, 20], [30, 30]], '
          '"negative_points": [[200, 200], [300, 300], [400, 400]]}')
SEG_PRED = ('{"boxes": [0, 0, 100, 100], "positive_points": [[30, 30], [10, 10], [20, 20]], '
            '"negative_points": [[230, 240], [330, 340], [430, 440]]}')  # negatives 50 px off
SEG_VIDEO_GT = '{"time": 10, ' + SEG_GT[1:]
SEG_VIDEO_PRED = '{"time": 12, "boxes": [0, 0, 100, 100], "positive_points": [[10, 10], [20, 20], [30, 30]], ' \
                 '"negative_points": [[200, 200], [300, 300], [400, 400]]}'
TWO_FRAMES = '{"time": [10, 20], "boxes": {"10": [0, 0, 10, 10], "11": [0, 0, 10, 10]}}'

CASES = [
    # (item, overall, accuracy, structure)
    (item("multiple choice", "B", "<answer>B</answer>"), 1.5, 1.0, 0.5),
    (item("multiple choice", "(b)", "B"), 1.5, 1.0, 0.5),
    (item("multiple choice", "C", "B"), 0.6, 0.0, 0.5),
    (item("numerical", "78172.0", "<answer>78,172</answer>"), 1.5, 1.0, 0.5),
    (item("numerical", "3.004", "3"), 1.5, 1.0, 0.5),
    (item("numerical", "3.01", "3"), 0.6, 0.0, 0.5),
    (item("regression", "55", "100"), 0.9 * 0.2 + 0.6, 0.2, 0.5),
    (item("OCR", "Open 24 / 7", "Open 24 / 7"), 1.5, 1.0, 0.5),
    (item("OCR", "open 24 / 7", "Open 24 / 7"), 0.9 * 0.75 + 0.6, 0.75, 0.5),
    (item("math", r"\frac{\sqrt{2}}{2}", r"\frac{\sqrt{2}}{2}"), 1.5, 1.0, 0.5),
    (item("math", "2", r"2\sqrt{3}"), 0.6, 0.0, 0.5),
    (item("open-ended", "the cat sat on a mat", "a cat sits on the mat", "video"), 0.9 * 4 / 9 + 0.6, 4 / 9, 0.5),
    (item("captioning", "the cat sat on a mat", "a cat sits on the mat", "video"), 0.9 * 4 / 9 + 0.6, 4 / 9, 0.5),
    (item("temporal grounding", '{"time": [15, 25]}', '{"time": [10, 20]}', "video"), 0.9 / 3 + 0.6, 1 / 3, 0.5),
    (item("spatial grounding", '{"boxes": [5, 0, 15, 10]}', '{"boxes": [0, 0, 10, 10]}'), 0.9 / 3 + 0.6, 1 / 3, 0.5),
    # one of two frames: accuracy 1.0 over the shared frame (published), structure 0.25 + 0.25 * 1/2
    (item("spatial-temporal grounding", '{"time": [10, 20], "boxes": {"10": [0, 0, 10, 10]}}', TWO_FRAMES, "video"),
     0.9 + 0.1 + 0.375, 1.0, 0.375),
    (item("tracking", '{"boxes": {"1": [0, 0, 10, 10]}}', '{"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}',
          "video"), 0.45 + 0.1 + 0.375, 0.5, 0.375),
    (item("segmentation", SEG_PRED, SEG_GT), 0.9 * (0.75 + 0.25 * math.exp(-0.5)) + 0.6,
     0.75 + 0.25 * math.exp(-0.5), 0.5),
    (item("segmentation", SEG_VIDEO_PRED, SEG_VIDEO_GT, "video"), 0.9 * (0.7 + 0.3 * math.exp(-1)) + 0.6,
     0.7 + 0.3 * math.exp(-1), 0.5),
]


@pytest.mark.parametrize(("it", "overall", "accuracy", "structure"), CASES)
def test_each_task_on_a_hand_computed_case(it, overall, accuracy, structure):
    result = score_batch([it])[0]
    assert result["format"] == 1.0
    assert result["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert result["structure"] == pytest.approx(structure, abs=1e-12)
    assert result["overall"] == pytest.approx(overall, abs=1e-12)
    assert ("reason" in result) is (accuracy == 0.0)


MALFORMED = [
    # (name, item, overall, format, accuracy, structure, reason fragment)
    ("no tags: bare answer still judged", item("multiple choice", "B", "B", raw=True), 0.9, 0.0, 1.0, 0.0,
     "no <answer> block"),
    ("answer after think without tags", item("multiple choice", "<think>r</think> B", "B", raw=True), 0.0, 0.0, 0.0,
     0.0, "option letter"),
    ("unclosed think", item("numerical", "<think>r <answer>7</answer>", "7", raw=True), 0.9, 0.0, 1.0, 0.0,
     "no <think>"),
    ("two answer blocks", item("multiple choice", "<think>r</think><answer>B</answer><answer>C</answer>", "B",
                               raw=True), 0.9, 0.0, 1.0, 0.0, "more than one <answer> block"),
    ("upper-case tags", item("OCR", "<THINK>r</THINK><ANSWER>STOP</ANSWER>", "STOP", raw=True), 0.0, 0.0, 0.0, 0.0,
     "format"),
    ("empty answer", item("OCR", "", "STOP"), 0.1, 1.0, 0.0, 0.0, "empty answer"),
    ("prose instead of a number", item("numerical", "approximately 3", "3"), 0.6, 1.0, 0.0, 0.5, "not a number"),
    ("letter with option text", item("multiple choice", "B. red car", "B"), 0.6, 1.0, 0.0, 0.5, "option letter"),
    ("strings as numbers", item("temporal grounding", '{"time": ["10", "20"]}', '{"time": [10, 20]}', "video"),
     0.1, 1.0, 0.0, 0.0, "two numbers"),
    ("booleans as numbers", item("spatial grounding", '{"boxes": [true, 0, 10, 10]}', '{"boxes": [0, 0, 10, 10]}'),
     0.1, 1.0, 0.0, 0.0, "four numbers"),
    ("NaN and Infinity", item("temporal grounding", '{"time": [NaN, Infinity]}', '{"time": [10, 20]}', "video"),
     0.1, 1.0, 0.0, 0.0, "two numbers"),
    ("broken JSON", item("spatial grounding", '{"boxes": [0, 0, 10, 1', '{"boxes": [0, 0, 10, 10]}'), 0.1, 1.0,
     0.0, 0.0, "not valid JSON"),
    ("wrong keys", item("temporal grounding", '{"start": 10, "end": 20}', '{"time": [10, 20]}', "video"), 0.1, 1.0,
     0.0, 0.0, "time"),
    # frame keys still overlap (0.25 * 1) but the schema fails (0): structure 0.25
    ("box of three numbers", item("tracking", '{"boxes": {"1": [0, 0, 10]}}', '{"boxes": {"1": [0, 0, 10, 10]}}',
                                  "video"), 0.35, 1.0, 0.0, 0.25, "four numbers"),
    ("string keyframe time", item("segmentation", SEG_VIDEO_PRED.replace('"time": 12', '"time": "12s"'),
                                  SEG_VIDEO_GT, "video"), 0.1, 1.0, 0.0, 0.0, '"time"'),
]


@pytest.mark.parametrize(("name", "it", "overall", "fmt", "accuracy", "structure", "reason"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_answer_classes(name, it, overall, fmt, accuracy, structure, reason):
    result = score_item(it)
    assert (result["overall"], result["format"], result["accuracy"], result["structure"]) == pytest.approx(
        (overall, fmt, accuracy, structure), abs=1e-12)
    assert reason in result["reason"]


@pytest.mark.parametrize(
    ("it", "reason"),
    [
        ({"response": None, "ground_truth": "B", "problem_type": "multiple choice", "data_type": "image"},
         "response is missing or null"),
        ({"response": wrap("B"), "ground_truth": 3, "problem_type": "multiple choice", "data_type": "image"},
         "ground_truth is not a string (int)"),
        ({"response": wrap("B"), "ground_truth": "B", "data_type": "image"}, "problem_type is missing"),
        ({"response": wrap("B"), "ground_truth": "B", "problem_type": "multiple choice", "data_type": ["image"]},
         "data_type is not a string (list)"),
        (["not", "a", "mapping"], "item is not a mapping"),
    ],
)
def test_null_and_non_string_fields_score_zero_with_a_reason(it, reason):
    result = score_batch([it])[0]
    assert (result["overall"], result["format"], result["accuracy"], result["structure"]) == (0.0, 0.0, 0.0, 0.0)
    assert reason in result["reason"]


def test_unknown_problem_type_keeps_format_and_scores_nothing_else():
    result = score_item(item("counting", "3", "3"))
    assert (result["overall"], result["format"], result["accuracy"], result["structure"]) == (0.1, 1.0, 0.0, 0.0)
    assert "unknown problem_type 'counting'" in result["reason"]
    video_only = score_item(item("segmentation", SEG_PRED, SEG_GT, data_type="audio"))
    assert video_only["accuracy"] == 0.0 and "needs data_type" in video_only["reason"]


def test_unparseable_ground_truth_is_named_in_the_reason():
    result = score_item(item("spatial grounding", '{"boxes": [0, 0, 10, 10]}', '{"boxes": "oops"}'))
    assert result["accuracy"] == 0.0 and "ground truth unparseable" in result["reason"]


def test_format_weight_changes_the_mix():
    result = score_batch([item("multiple choice", "C", "B")], format_weight=0.5)[0]
    assert result["overall"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0 + 0.5)
    with pytest.raises(ValueError):
        score_batch([], format_weight=2.0)


def test_results_are_identical_run_to_run_and_with_cleared_caches():
    from onethinker.rewards import clear_caches

    batch = [c[0] for c in CASES] + [m[1] for m in MALFORMED]
    first = score_batch(batch)
    clear_caches()
    assert score_batch(batch) == first


def test_empty_boxes_object_earns_no_structure():
    # published: {"boxes": {}} passed the schema check for 0.25 structure
    result = score_item(item("tracking", '{"boxes": {}}', '{"boxes": {"1": [0, 0, 10, 10]}}', "video"))
    assert (result["overall"], result["accuracy"], result["structure"]) == (0.1, 0.0, 0.0)
    assert '"boxes" is empty' in result["reason"]


def test_a_failing_structure_check_is_reported_like_a_failing_accuracy():
    from onethinker.tasks import Parsed, TaskSpec, register, unregister

    def broken(answer, gt):
        raise ZeroDivisionError("spec bug")

    register(TaskSpec(key="broken structure", problem_type="broken structure", data_types=("image",),
                      instruction="", parse=lambda t: Parsed(t), structure=broken,
                      accuracy=lambda p, g: float(p == g), metric_suite="accuracy"))
    try:
        [result] = score_batch([{"response": "<think>x</think><answer>7</answer>", "ground_truth": "7",
                                 "problem_type": "broken structure", "data_type": "image"}])
    finally:
        unregister("broken structure")
    assert result["accuracy"] == 1.0 and result["structure"] == 0.0
    assert result["reason"] == "structure: structure failed: ZeroDivisionError: spec bug"


def test_a_task_registered_after_scoring_is_scored_and_an_unregistered_one_is_unknown_again():
    from onethinker.tasks import Parsed, TaskSpec, register, unregister

    before = score_item(item("tally", "3", "3"))
    assert before["accuracy"] == 0.0 and "unknown problem_type 'tally'" in before["reason"]
    register(TaskSpec(key="tally", problem_type="tally", data_types=("image",), instruction="",
                      parse=lambda t: Parsed(t.strip()), structure=lambda a, g: 0.5,
                      accuracy=lambda p, g: float(p == g), metric_suite="accuracy"))
    try:
        assert score_item(item("tally", "3", "3"))["accuracy"] == 1.0
    finally:
        unregister("tally")
    assert "unknown problem_type 'tally'" in score_item(item("tally", "3", "3"))["reason"]
