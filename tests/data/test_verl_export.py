"""veRL export: the parquet reads back with the columns RLHFDataset uses."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from onethinker.data import RecordError, export_verl
from onethinker.tasks import prompt_text, task_key


def test_export_reads_back_row_for_row(tmp_path, synth_dir, synth_records):
    out = tmp_path / "train.parquet"
    assert export_verl(synth_dir / "data.jsonl", out, batch_size=10) == 48  # several row groups
    table = pq.read_table(out)
    assert table.column_names == ["data_source", "prompt", "images", "videos", "ability", "reward_model",
                                  "extra_info"]
    rows = table.to_pylist()
    assert len(rows) == len(synth_records)
    for index, (row, record) in enumerate(zip(rows, synth_records)):
        key = task_key(record["problem_type"], record["data_type"])
        [message] = row["prompt"]
        assert message["role"] == "user"
        assert message["content"] == prompt_text(record["problem"], key, record["options"])
        assert row["data_source"] == "shapes-world"
        assert row["ability"] == key
        assert row["reward_model"] == {"style": "rule", "ground_truth": record["answer"]}
        assert row["extra_info"] == {"index": index, "problem_id": record["problem_id"],
                                     "problem_type": record["problem_type"], "data_type": record["data_type"],
                                     "task_key": key}
        if record["data_type"] == "image":
            assert row["videos"] is None
            assert row["images"] == [{"image": str(synth_dir / record["images"][0])}]
        else:
            assert row["images"] is None
            [video] = row["videos"]
            assert video == {"video": str(synth_dir / record["videos"][0]), "fps": 2.0, "max_frames": 128,
                             "min_pixels": 4096, "max_pixels": 65536}


def test_placeholders_are_added_for_media_the_question_does_not_place(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({
        "problem": "How many?", "problem_type": "numerical", "data_type": "video",
        "solution": "<answer>3</answer>", "videos": ["v.mp4"], "problem_id": 9,
    }) + "\n")
    export_verl(corpus, tmp_path / "o.parquet", media_root="/media")
    [row] = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert row["prompt"][0]["content"].startswith("<video>How many?\n")
    assert row["reward_model"]["ground_truth"] == "3"  # wrapper removed
    assert row["extra_info"]["problem_id"] == "9"
    assert row["data_source"] == "onethinker"
    assert row["videos"][0]["video"] == "/media/v.mp4"


def test_a_bad_record_stops_the_export_unless_skipped(tmp_path, synth_records):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps(synth_records[0]) + "\n{broken\n" + json.dumps(synth_records[1]) + "\n")
    with pytest.raises(RecordError, match=r"c.jsonl:2: json"):
        export_verl(corpus, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()
    assert export_verl(corpus, tmp_path / "o.parquet", skip_bad=True) == 2
