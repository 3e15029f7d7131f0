"""Reading <think>/<answer> responses: format check, extraction, tag normalisation that keeps answer text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onethinker.tasks.answer import extract_answer, format_ok, format_problem, normalize_tags, response_answer


@pytest.mark.parametrize(
    ("response", "ok", "answer"),
    [
        ("<think>r</think><answer>B</answer>", True, "B"),
        ("  <think>\nr\n</think>\n\n<answer> B </answer>\n", True, "B"),
        ("< think >r< / think >\n< answer >B< /answer >", True, "B"),
        ("<think>r</think><answer>x < y</answer>", True, "x < y"),  # answer text is not rewritten
        ("<think>r</think><answer>Open 24 / 7</answer>", True, "Open 24 / 7"),
        ("<think>r</think><answer></answer>", True, ""),
        ("<think>r</think><answer>A</answer><answer>B</answer>", False, "A"),  # two answer blocks
        ("<think>r<answer>B</answer>", False, "B"),  # unclosed think
        ("<think>r</think>so<answer>B</answer>", False, "B"),  # text between blocks
        ("<answer>B</answer>", False, "B"),  # no think
        ("<THINK>r</THINK><ANSWER>B</ANSWER>", False, None),  # tags are case-sensitive
        ("<think>r</think><answer>B", False, None),  # unclosed answer
        ("B", False, None),
    ],
)
def test_format_and_extraction(response, ok, answer):
    assert format_ok(response) is ok
    assert (format_problem(response) is None) is ok
    assert extract_answer(response) == answer


def test_without_an_answer_block_the_whole_response_is_scored():
    assert response_answer("  B ") == "B"
    assert response_answer("<think>r</think> B") == "<think>r</think> B"
    assert response_answer("<think>r</think><answer>  </answer>") == ""


def test_format_problems_name_the_defect():
    assert format_problem("<think>r</think><answer>A</answer><answer>B</answer>") == "more than one <answer> block"
    assert format_problem("B") == "no <answer> block"
    assert format_problem("<answer>B</answer>") == "no <think>...</think> block"
    assert format_problem(None) == "response is not a string"


def test_normalize_tags_only_touches_tags():
    assert normalize_tags("a < b and c / d </ answer >") == "a < b and c / d </answer>"


# The published format rule, as a regex, on tag-normalised text with a single answer block.
_REFERENCE = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)
_PIECES = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x", "<", ">", "/", "think"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_format_check_matches_the_published_pattern_when_there_is_one_answer_block(text):
    expected = (
        _REFERENCE.fullmatch(text) is not None and text.count("<answer>") == 1 and text.count("</answer>") == 1
    )
    assert format_ok(text) is expected
