"""Robustness: any string, None or number in any field gives a finite overall in [0, 1.5] and never raises."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onethinker.rewards import score_batch
from onethinker.tasks.prompts import INSTRUCTIONS

PROBLEM_TYPES = ["multiple choice", "numerical", "regression", "OCR", "math", "open-ended", "captioning",
                 "temporal grounding", "spatial grounding", "spatial-temporal grounding", "tracking",
                 "segmentation", "Segmentation", "unknown task"]
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5),
    max_leaves=20,
)
# Text that looks like answers: JSON of any shape, numbers, LaTeX fragments, tags.
ANSWERS = st.one_of(
    st.text(max_size=60),
    JSONISH.map(lambda v: __import__("json").dumps(v)),
    st.builds(lambda k, v: '{"%s": %s}' % (k, v), st.sampled_from(["time", "boxes", "positive_points"]),
              st.sampled_from(["[1, 2]", "[1, 2, 3, 4]", '{"1": [1, 2, 3, 4]}', "[[1, 2], [3, 4], [5, 6]]",
                               "NaN", "[Infinity, 1]", '["1", true]', "1e999"])),
    st.sampled_from([r"\frac{1}{0}", r"2\sqrt{3}", "x = ?", "$$", "1e999", "(10^{10})!", "A", "(b)", "0.5"]),
)
ANY_FIELD = st.one_of(st.none(), st.text(max_size=40), st.integers(), st.floats(), st.booleans())


def responses(answer: str) -> st.SearchStrategy:
    return st.sampled_from([
        f"<think>r</think><answer>{answer}</answer>",
        answer,
        f"< think >r</think >< answer>{answer}</answer><answer>{answer}</answer>",
        f"<think>r</think><answer>{answer}",
    ])


def _check(items):
    for result in score_batch(items):
        overall = result["overall"]
        assert math.isfinite(overall) and 0.0 <= overall <= 1.5
        for part in ("format", "accuracy", "structure"):
            assert math.isfinite(result[part])
        assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["structure"] <= 0.5
        if result["format"] == 0.0:
            assert result["structure"] == 0.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_answer_for_any_task_scores_in_range(data):
    answer = data.draw(ANSWERS)
    gt = data.draw(ANSWERS | st.sampled_from(['{"time": [1, 5]}', '{"boxes": [1, 2, 3, 4]}', "B", "3.5"]))
    items = [{"response": data.draw(responses(answer)), "ground_truth": gt,
              "problem_type": data.draw(st.sampled_from(PROBLEM_TYPES)),
              "data_type": data.draw(st.sampled_from(["image", "video", None, "audio"]))}]
    _check(items)


@settings(max_examples=150, deadline=None)
@given(ANY_FIELD, ANY_FIELD, ANY_FIELD | st.sampled_from(PROBLEM_TYPES), ANY_FIELD)
def test_any_value_in_any_field_never_raises(response, gt, problem_type, data_type):
    _check([{"response": response, "ground_truth": gt, "problem_type": problem_type, "data_type": data_type}])


def test_published_instructions_are_untouched_by_scoring():
    # scoring must not mutate shared prompt text or inputs
    before = dict(INSTRUCTIONS)
    item = {"response": "<think>r</think><answer>A</answer>", "ground_truth": "A",
            "problem_type": "multiple choice", "data_type": "image"}
    copy = dict(item)
    score_batch([item])
    assert item == copy and INSTRUCTIONS == before
