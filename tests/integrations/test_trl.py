"""TRL reward functions: plain callables over dataset columns."""

from __future__ import annotations

import pytest

from onethinker.integrations.trl import accuracy_reward, format_reward, overall_reward, structure_reward

COLUMNS = {
    "answer": ["B", '{"time": [2.0, 6.0]}'],
    "problem_type": ["multiple choice", "temporal grounding"],
    "data_type": ["image", "video"],
}
COMPLETIONS = ["<think>red</think><answer>B</answer>", '<think>t</think><answer>{"time": [4.0, 6.0]}</answer>']


def test_parts_sum_to_overall_with_published_weights():
    acc = accuracy_reward([], COMPLETIONS, **COLUMNS)
    fmt = format_reward([], COMPLETIONS, **COLUMNS)
    struct = structure_reward([], COMPLETIONS, **COLUMNS)
    assert acc == [1.0, pytest.approx(0.5)]  # tIoU of [4,6] in [2,6] is 2/4
    assert fmt == [1.0, 1.0]
    assert struct == [0.5, 0.5]
    combined = [0.9 * a + 0.1 * f + s for a, f, s in zip(acc, fmt, struct)]
    assert overall_reward([], COMPLETIONS, **COLUMNS) == pytest.approx(combined)


def test_conversational_completions_and_solution_column():
    conversational = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    columns = dict(COLUMNS, solution=COLUMNS["answer"])
    del columns["answer"]
    assert accuracy_reward([], conversational, **columns) == [1.0, pytest.approx(0.5)]


def test_missing_columns_name_what_is_needed():
    with pytest.raises(KeyError, match="ground-truth column"):
        overall_reward([], COMPLETIONS, problem_type=["math"], data_type=["image"])
    with pytest.raises(KeyError, match="data_type"):
        overall_reward([], COMPLETIONS[:1], answer=["B"], problem_type=["multiple choice"])
