"""`onethinker data synth|validate|stats|export` end to end, plus corpus_stats."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from onethinker.cli import app
from onethinker.data import corpus_stats

runner = CliRunner()


def test_synth_then_validate_with_media_checks(tmp_path):
    out = tmp_path / "world"
    result = runner.invoke(app, ["data", "synth", "--out", str(out), "--n", "12", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert len((out / "data.jsonl").read_text().splitlines()) == 12
    result = runner.invoke(app, ["data", "validate", str(out / "data.jsonl"), "--check-media"])
    assert result.exit_code == 0, result.output
    assert "12 records, all valid" in result.output


def test_validate_prints_every_problem_and_fails(tmp_path, synth_dir, synth_records):
    bad = dict(synth_records[7], answer='{"boxes": [1, 2, 3]}')
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(synth_records[0]) + "\nnot json\n" + json.dumps(bad) + "\n")
    result = runner.invoke(app, ["data", "validate", str(path), "--media-root", str(synth_dir)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith(f"{path}:2: json: not valid JSON") for line in lines)
    assert any(line.startswith(f"{path}:3: answer: not a valid spatial grounding answer") for line in lines)
    assert "3 records, 2 with problems" in result.output


def test_validate_missing_file_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_stats_counts_tasks_modalities_and_durations(synth_dir):
    stats = corpus_stats(synth_dir / "data.jsonl")
    assert stats["records"] == 48 and stats["invalid"]["count"] == 0
    assert len(stats["per_task"]) == 12 and set(stats["per_task"].values()) == {4}
    assert stats["per_modality"] == {"image": 32, "video": 16}  # 8 image tasks, 4 video tasks
    assert stats["media"]["missing"] == 0
    seconds = stats["media"]["video_seconds"]
    assert seconds["count"] == 16 and 3.0 <= seconds["min"] <= seconds["max"] <= 6.0
    assert stats["answer_chars"]["count"] == 48 and stats["answer_chars"]["min"] >= 1

    result = runner.invoke(app, ["data", "stats", str(synth_dir / "data.jsonl"), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["per_task"] == stats["per_task"]
    result = runner.invoke(app, ["data", "stats", str(synth_dir / "data.jsonl")])
    assert result.exit_code == 0 and "segmentation/video" in result.output


def test_export_command_writes_parquet(tmp_path, synth_dir):
    out = tmp_path / "verl.parquet"
    result = runner.invoke(app, ["data", "export", str(synth_dir / "data.jsonl"), "--to", "verl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 48
