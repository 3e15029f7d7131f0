"""Records: the released schema, aliases, and streaming readers for JSONL, JSON lists and parquet."""

from __future__ import annotations

import json

import pytest

from onethinker.data import Record, RecordError, read_records
from onethinker.data import records as records_module

RECORDS = [
    {"problem": "<image>Which colour?", "problem_type": "multiple choice", "data_type": "image",
     "options": ["A. red", "B. blue"], "answer": "B", "images": ["a.png"], "problem_id": 1},
    {"problem": "When?", "problem_type": "temporal grounding", "data_type": "Video ",
     "solution": "<answer>{\"time\": [1.5, 3]}</answer>", "videos": ["v.mp4"], "sft_response": "<think>t</think>"},
    {"problem": "Count", "problem_type": "numerical", "data_type": "image", "answer": 3, "images": "c.png",
     "resolution": [640, 480], "benchmark": "toy"},
]


def write_jsonl(path, rows, blank_lines=False):
    lines = []
    for row in rows:
        lines.append(row if isinstance(row, str) else json.dumps(row))
        if blank_lines:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_record_fields_aliases_and_extras():
    first, second, third = (Record.model_validate(r) for r in RECORDS)
    assert first.key == "multiple choice" and first.options == ["A. red", "B. blue"]
    assert second.answer == '<answer>{"time": [1.5, 3]}</answer>'  # `solution` accepted as `answer`
    assert second.ground_truth == '{"time": [1.5, 3]}'
    assert second.data_type == "video" and second.key == "temporal grounding"
    assert second.extra("sft_response") == "<think>t</think>"  # unknown fields are preserved
    assert third.answer == "3" and third.images == ["c.png"] and third.resolution == (640, 480)
    assert third.media == ["c.png"]


@pytest.mark.parametrize("layout", ["jsonl", "json-list", "json-pretty", "parquet"])
def test_every_format_yields_the_same_records(tmp_path, layout):
    if layout == "jsonl":
        path = write_jsonl(tmp_path / "c.jsonl", RECORDS, blank_lines=True)
    elif layout.startswith("json-"):
        path = tmp_path / "c.json"
        path.write_text(json.dumps(RECORDS, indent=2 if layout == "json-pretty" else None))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for r in RECORDS:  # parquet needs one type per column: lists of paths, string answers
            row = {k: v for k, v in r.items() if k != "solution"}
            row["answer"] = str(r.get("answer", r.get("solution")))
            row["images"] = [r["images"]] if isinstance(r.get("images"), str) else r.get("images", [])
            rows.append(row)
        path = tmp_path / "c.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    got = list(read_records(path))
    assert [r.key for _, r in got] == ["multiple choice", "temporal grounding", "numerical"]
    lines = [line for line, _ in got]
    # JSONL: physical line numbers (blank lines counted); JSON list / parquet: index + 1
    assert lines == ([1, 3, 5] if layout == "jsonl" else [1, 2, 3])
    assert got[1][1].ground_truth == '{"time": [1.5, 3]}'


def test_json_list_is_streamed_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(records_module, "_CHUNK", 7)  # force many refills, including inside numbers
    rows = [dict(RECORDS[2], answer=123456789 + i, problem_id=i) for i in range(40)]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rows))
    got = list(read_records(path))
    assert [r.answer for _, r in got] == [str(123456789 + i) for i in range(40)]
    assert [line for line, _ in got] == list(range(1, 41))


def test_errors_name_file_line_and_field(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [RECORDS[0], "{oops", {"problem": "x"}])
    reader = read_records(path)
    assert next(reader)[0] == 1
    with pytest.raises(RecordError) as info:
        next(reader)
    assert str(info.value).startswith(f"{path}:2: json: not valid JSON")
    assert (info.value.line, info.value.field) == (2, "json")
    # skip_bad keeps going and drops lines 2 and 3
    assert [line for line, _ in read_records(path, skip_bad=True)] == [1]


def test_missing_field_and_unknown_task_are_record_errors(tmp_path):
    no_answer = {k: v for k, v in RECORDS[0].items() if k != "answer"}
    unknown = dict(RECORDS[0], problem_type="telepathy")
    path = tmp_path / "c.json"
    path.write_text(json.dumps([no_answer, unknown]))
    errors = []
    for row in json.loads(path.read_text()):
        try:
            records_module.parse_record(path, len(errors) + 1, row)
        except RecordError as err:
            errors.append(err)
    assert [(e.line, e.field) for e in errors] == [(1, "answer"), (2, "problem_type")]
    assert "telepathy" in str(errors[1])


def test_truncated_json_list_reports_the_element(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(RECORDS)[:-40])
    got = []
    with pytest.raises(RecordError) as info:
        for item in read_records(path):
            got.append(item)
    assert len(got) == 2 and info.value.line == 3
