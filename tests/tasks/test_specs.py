"""The registry: every task key resolves, carries the published prompt tail and parses to typed values."""

from __future__ import annotations

import pytest

from onethinker.tasks import (
    INSTRUCTIONS,
    TASKS,
    GroundingAnswer,
    SegmentationAnswer,
    UnknownTaskError,
    get_task,
    parse_ground_truth,
    prompt_text,
    task_key,
)

KEYS = [
    "multiple choice", "numerical", "regression", "OCR", "math", "open-ended", "temporal grounding",
    "spatial grounding", "spatial-temporal grounding", "tracking", "segmentation/image", "segmentation/video",
]
SUITES = {
    "multiple choice": "accuracy", "numerical": "accuracy", "math": "accuracy", "regression": "mra",
    "OCR": "wer", "open-ended": "rouge", "temporal grounding": "temporal_grounding",
    "spatial grounding": "spatial_grounding", "spatial-temporal grounding": "spatiotemporal_grounding",
    "tracking": "tracking", "segmentation/image": "image_segmentation", "segmentation/video": "video_segmentation",
}


def test_all_twelve_tasks_are_registered_with_their_metric_suite_and_instruction():
    get_task("math")  # loads the built-in specs
    assert sorted(TASKS) == sorted(KEYS)
    for key in KEYS:
        spec = get_task(key)
        assert spec.metric_suite == SUITES[key]
        assert spec.instruction == INSTRUCTIONS[key]
    assert [k for k in KEYS if get_task(k).uses_options] == ["multiple choice"]
    structured = {k for k in KEYS if get_task(k).structured}
    assert structured == set(KEYS[6:])


@pytest.mark.parametrize(
    ("problem_type", "data_type", "key"),
    [
        ("Multiple Choice", "image", "multiple choice"),
        ("ocr", "image", "OCR"),
        ("captioning", "video", "open-ended"),
        ("Open-Ended", None, "open-ended"),
        ("segmentation", "image", "segmentation/image"),
        ("Segmentation", "VIDEO", "segmentation/video"),
        ("spatial-temporal  grounding", "video", "spatial-temporal grounding"),
    ],
)
def test_task_key_resolves_names_case_insensitively(problem_type, data_type, key):
    assert task_key(problem_type, data_type) == key


@pytest.mark.parametrize(("problem_type", "data_type"), [("counting", "image"), ("segmentation", None), (3, "image")])
def test_unknown_tasks_raise_a_key_error_with_a_sentence(problem_type, data_type):
    with pytest.raises(UnknownTaskError) as info:
        task_key(problem_type, data_type)
    assert isinstance(info.value, KeyError)
    assert "problem_type" in str(info.value)


def test_multiple_choice_prompt_lists_options_and_ends_with_the_published_tail():
    text = prompt_text("What is shown? <image>", "multiple choice", ["A. cat", "B. dog"])
    assert text.startswith("What is shown? <image>\nOptions:\nA. cat\nB. dog\nPlease answer this question")
    assert text.endswith("Example:\n<answer>A</answer>")
    assert "Options" not in prompt_text("How many?", "numerical", ["A. 1"])


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("multiple choice", " (b) ", "B"),
        ("multiple choice", r"$\text{C}$", "C"),
        ("numerical", "78,172", 78172.0),
        ("regression", "-3.5", -3.5),
        ("OCR", "Open 24 / 7", "Open 24 / 7"),
        ("temporal grounding", '{"time": [1, 2.5]}', (1.0, 2.5)),
        ("spatial grounding", '{"boxes": [1, 2, 3, 4]}', (1.0, 2.0, 3.0, 4.0)),
        ("spatial-temporal grounding", '{"time": [8, 9.5], "boxes": {"9": [1, 2, 3, 4]}}',
         GroundingAnswer({9: (1.0, 2.0, 3.0, 4.0)}, (8.0, 9.5))),
        ("tracking", '{"boxes": {"1": [1, 2, 3, 4], "2": [5, 6, 7, 8]}}',
         GroundingAnswer({1: (1.0, 2.0, 3.0, 4.0), 2: (5.0, 6.0, 7.0, 8.0)})),
        ("segmentation/video",
         '{"time": 3, "boxes": [1, 2, 3, 4], "positive_points": [[1, 1], [2, 2], [3, 3]],'
         ' "negative_points": [[9, 9], [8, 8], [7, 7]]}',
         SegmentationAnswer((1.0, 2.0, 3.0, 4.0), ((1.0, 1.0), (2.0, 2.0), (3.0, 3.0)),
                            ((9.0, 9.0), (8.0, 8.0), (7.0, 7.0)), 3.0)),
    ],
)
def test_parsers_return_typed_values(key, text, value):
    parsed = get_task(key).parse(text)
    assert parsed.ok and parsed.value == value


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        ("multiple choice", "B. red car", "option letter"),
        ("multiple choice", "Option B", "option letter"),
        ("multiple choice", "Ａ", "option letter"),  # full-width letter
        ("numerical", "approximately 3", "not a number"),
        ("numerical", "NaN", "finite"),
        ("numerical", "", "empty"),
        ("temporal grounding", '{"time": ["1", "5"]}', "two numbers"),
        ("temporal grounding", '{"time": [true, 5]}', "two numbers"),
        ("temporal grounding", '{"time": [1, Infinity]}', "two numbers"),
        ("temporal grounding", '{"time": [1, 2],}', "JSON"),
        ("spatial grounding", "[1, 2, 3, 4]", "not an object"),
        ("spatial grounding", '{"boxes": [[1, 2, 3, 4]]}', "four numbers"),
        ("spatial grounding", '{"boxes": [1, 2, 3, 4, 5]}', "four numbers"),
        ("tracking", '{"boxes": {"frame_1": [1, 2, 3, 4]}}', "integer second"),
        ("tracking", '{"boxes": [[1, 2, 3, 4]]}', "object"),
        ("segmentation/image", '{"boxes": [1, 2, 3, 4], "positive_points": [[1, 1], [2, 2]], '
         '"negative_points": [[1, 1], [2, 2], [3, 3]]}', "positive_points"),
        ("segmentation/video", '{"time": "3s", "boxes": [1, 2, 3, 4], "positive_points": [[1, 1], [2, 2], [3, 3]], '
         '"negative_points": [[1, 1], [2, 2], [3, 3]]}', "time"),
    ],
)
def test_malformed_answers_fail_with_a_reason(key, text, reason):
    parsed = get_task(key).parse(text)
    assert not parsed.ok and parsed.value is None
    assert reason in parsed.reason


def test_ground_truth_wrapper_is_stripped():
    assert parse_ground_truth("spatial grounding", '<answer> {"boxes": [1, 2, 3, 4]} </answer>').value == (1, 2, 3, 4)


def test_ground_truth_checks_report_out_of_range_values():
    tg = get_task("temporal grounding")
    assert tg.check_ground_truth((5.0, 3.0), None) == ["time start 5.0 is after its end 3.0"]
    assert "after the video's end" in tg.check_ground_truth((1.0, 80.0), 60.0)[0]
    assert tg.check_ground_truth((1.0, 3.0), 60.0) == []
    sg = get_task("spatial grounding")
    assert "outside 0-1000" in sg.check_ground_truth((0.0, 0.0, 1200.0, 10.0), None)[0]
    assert sg.check_ground_truth((0.0, 0.0, 10.0, 10.0), None) == []
    st = get_task("spatial-temporal grounding")
    problems = st.check_ground_truth(GroundingAnswer({20: (0, 0, 1, 1)}, (1.0, 3.0)), None)
    assert problems == ["box seconds [20] lie outside the span [1.0, 3.0]"]
    assert get_task("numerical").check_ground_truth(3.0, None) == []
    assert get_task("multiple choice").check_ground_truth("B", None) == []
