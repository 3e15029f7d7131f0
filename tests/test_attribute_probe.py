"""benchmarks/attribute_probe.py reads its labels off the shapes world's one-object descriptions."""

import json

import pytest

from onethinker.data import read_records
from onethinker.data.synth import COLORS, SHAPES, synthesize


@pytest.fixture(scope="module")
def probe(load_benchmark):
    return load_benchmark("attribute_probe")


def test_labels_match_the_description_and_cycle_questions(probe, tmp_path):
    root = synthesize(tmp_path / "d", 6, 0, split="probe", difficulty=0.0, tasks=["open-ended"])
    records = [r for _, r in read_records(root / "data.jsonl")]
    lines = [json.loads(line) for line in probe.probe_lines(records, ["colour", "shape", "where"])]
    assert [m["messages"][0]["content"] for m in lines[:3]] == [
        "<image>What colour is the object?", "<image>What shape is the object?", "<image>Where is the object?"]
    for i, (record, line) in enumerate(zip(records, lines)):
        labels = probe.attributes(record.answer)
        assert labels["colour"] in COLORS and labels["shape"] in SHAPES
        assert f"a {labels['colour']} {labels['shape']} at the {labels['where']} on a" in record.answer
        answer = line["messages"][1]["content"]
        assert answer == f"<answer>{labels[('colour', 'shape', 'where')[i % 3]]}</answer>"
        assert line["images"] == record.images


def test_a_description_of_two_objects_is_refused(probe, tmp_path):
    root = synthesize(tmp_path / "d", 3, 0, split="probe", difficulty=1.0, tasks=["open-ended"])
    for _, record in read_records(root / "data.jsonl"):
        assert " and a " in record.answer
        with pytest.raises(ValueError, match="one-object"):
            probe.attributes(record.answer)
