"""`onethinker reward score IN.jsonl -o OUT.jsonl`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from onethinker.cli import app

runner = CliRunner()
GOOD = {"response": "<think>r</think><answer>B</answer>", "ground_truth": "B", "problem_type": "multiple choice",
        "data_type": "image", "problem_id": "p1"}


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_scores_each_line_and_keeps_its_fields(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    nulls = dict(GOOD, response=None)
    _write(src, [json.dumps(GOOD), "", json.dumps(nulls)])
    result = runner.invoke(app, ["reward", "score", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    assert rows[0]["problem_id"] == "p1"
    assert rows[0]["reward"] == {"overall": 1.5, "format": 1.0, "accuracy": 1.0, "structure": 0.5}
    assert rows[1]["reward"]["overall"] == 0.0 and "response is missing or null" in rows[1]["reward"]["reason"]


def test_an_unparseable_line_is_an_error_naming_file_and_line(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, [json.dumps(GOOD), '{"response": "oops', "[1, 2]"])
    result = runner.invoke(app, ["reward", "score", str(src), "-o", str(out)])
    assert result.exit_code == 1
    assert f"{src}:2: not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_skip_bad_reports_and_goes_on(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, [json.dumps(GOOD), '{"response": "oops', "[1, 2]", json.dumps(GOOD)])
    result = runner.invoke(app, ["reward", "score", str(src), "-o", str(out), "--skip-bad",
                                 "--format-weight", "0.5"])
    assert result.exit_code == 0, result.output
    assert f"{src}:2: not valid JSON" in result.output
    assert f"{src}:3: expected a JSON object, got list" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["reward"]["overall"] for r in rows] == [1.5, 1.5]  # 0.5 * 1 + 0.5 * 1 + 0.5
    assert "skipped 2 bad line(s)" in result.output


def test_missing_input_and_bad_weight_are_user_errors(tmp_path):
    result = runner.invoke(app, ["reward", "score", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "no such file" in result.output
    src = tmp_path / "in.jsonl"
    _write(src, [json.dumps(GOOD)])
    result = runner.invoke(app, ["reward", "score", str(src), "-o", str(tmp_path / "o.jsonl"), "--format-weight", "3"])
    assert result.exit_code == 2
