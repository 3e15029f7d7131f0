"""Parity with the published reward on the shared 4096-item batch (scores recorded from the published function)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from onethinker.rewards import score_batch
from onethinker.rewards.published import DIFFERENCE_CLASSES, difference_class, published_answer_text


@pytest.fixture(scope="module")
def bench(shared_dir):
    path = shared_dir / "data" / "reward_bench_4096.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows, score_batch(rows)


def test_overall_matches_published_on_99_percent_of_well_formed_non_math_items(bench):
    rows, results = bench
    pairs = [(r, o) for r, o in zip(rows, results) if r["meta"]["quality"] != "malformed" and r["problem_type"] != "math"]
    agree = sum(abs(o["overall"] - r["ref"]["overall"]) <= 1e-4 for r, o in pairs)
    assert len(pairs) == 3201
    assert agree / len(pairs) >= 0.99


def test_every_disagreement_falls_in_a_documented_class(bench):
    rows, results = bench
    classes = Counter()
    for r, o in zip(rows, results):
        if abs(o["overall"] - r["ref"]["overall"]) > 1e-4:
            cls = difference_class(r)
            assert cls in DIFFERENCE_CLASSES, (r["idx"], r["problem_type"], r["meta"]["variant"])
            classes[cls] += 1
    assert classes["math_equivalence"] > 0 and classes["multiple_answer_blocks"] > 0


def test_format_and_structure_parts_agree_where_no_difference_applies(bench):
    rows, results = bench
    for r, o in zip(rows, results):
        if difference_class(r) is None:
            assert o["format"] == r["ref"]["format"]
            assert o["structure"] == pytest.approx(r["ref"]["structure_reward"], abs=1e-12)


def test_published_answer_text_drops_whitespace_around_slashes():
    assert published_answer_text("<think>r</think>\n<answer> Open 24 / 7 </answer>") == "Open 24/7"
    assert published_answer_text("<think>r</think><answer></answer>") == "<think>r</think><answer></answer>"
