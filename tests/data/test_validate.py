"""Validation: each rule names FILE:LINE: field, every problem is reported, clean data passes."""

from __future__ import annotations

import json
import shutil

import pytest

from onethinker.data.validate import validate_file


def by_task(records, problem_type, data_type=None):
    return next(dict(r) for r in records
                if r["problem_type"] == problem_type and (data_type is None or r["data_type"] == data_type))


def run(path, **kwargs):
    found = []
    report = validate_file(path, on_problem=found.append, **kwargs)
    return report, [(p.line, p.field, p.message) for p in found]


def write(tmp_path, lines, name="c.jsonl"):
    path = tmp_path / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_synthetic_corpus_validates_clean_with_media_checks(synth_dir):
    report, problems = run(synth_dir / "data.jsonl", check_media=True)
    assert problems == []
    assert report.ok and report.records == 48 and len(report.per_key) == 12


def test_done_criterion_non_json_five_number_box_and_missing_video(tmp_path, synth_dir, synth_records):
    good = by_task(synth_records, "OCR")
    box = by_task(synth_records, "spatial grounding")
    box["answer"] = '{"boxes": [10, 20, 30, 40, 50]}'
    video = by_task(synth_records, "temporal grounding")
    video["videos"] = ["media/gone.mp4"]
    path = write(tmp_path, [good, "{this is not json", good, box, video, good])
    report, problems = run(path, media_root=synth_dir)
    assert [(line, field) for line, field, _ in problems] == [(2, "json"), (4, "answer"), (5, "videos[0]")]
    assert "four numbers" in problems[1][2] and "media/gone.mp4: file not found" in problems[2][2]
    assert not report.ok and report.records == 6 and report.bad_records == 3


@pytest.mark.parametrize(
    ("task", "change", "field", "message"),
    [
        (("OCR", None), {"problem": ["not", "text"]}, "problem", "valid string"),
        (("OCR", None), {"problem_type": None}, "problem_type", "missing"),
        (("OCR", None), {"answer": None}, "answer", "missing"),
        (("OCR", None), {"problem_type": "telepathy"}, "problem_type", "unknown problem_type 'telepathy'"),
        (("spatial grounding", None), {"data_type": "video", "videos": ["media/x.mp4"]}, "data_type",
         "takes image, not 'video'"),
        (("spatial grounding", None), {"answer": '{"boxes": [0, 0, 1200, 10]}'}, "answer", "outside 0-1000"),
        (("spatial grounding", None), {"answer": "<answer>nope</answer>"}, "answer", "not valid JSON"),
        (("temporal grounding", None), {"answer": '{"time": [5, 2]}'}, "answer", "after its end"),
        (("tracking", None), {"answer": '{"boxes": {"one": [1, 2, 3, 4]}}'}, "answer", "not an integer second"),
        (("segmentation", "image"), {"answer": '{"boxes": [1, 2, 3, 4], "positive_points": [[1, 2]], '
                                               '"negative_points": [[1, 2], [3, 4], [5, 6]]}'},
         "answer", "three [x, y] points"),
        (("multiple choice", None), {"options": None}, "options", "needs a non-empty list of options"),
        (("multiple choice", None), {"answer": "F"}, "answer", "option 'F' but the record has"),
        (("multiple choice", None), {"options": "A. red"}, "options", "list"),
        (("OCR", None), {"images": []}, "images", "needs at least one entry"),
        (("OCR", None), {"problem": "<image> vs <image>"}, "images", "2 <image> placeholder(s)"),
        (("segmentation", "image"), {"mask": "media/none.png"}, "mask", "file not found"),
        (("segmentation", "video"), {"mask_times": [0.0]}, "mask_times", "1 times for"),
    ],
)
def test_each_rule_names_its_field(tmp_path, synth_dir, synth_records, task, change, field, message):
    record = by_task(synth_records, *task)
    for key, value in change.items():  # None deletes the field
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    path = write(tmp_path, [by_task(synth_records, "math"), record])
    _, problems = run(path, media_root=synth_dir)
    assert problems, "the broken record must be reported"
    assert all(line == 2 for line, _, _ in problems)
    assert any(f == field and message in m for _, f, m in problems), problems


def test_not_an_object(tmp_path):
    _, problems = run(write(tmp_path, ["[1, 2]"]))
    assert problems == [(1, "record", "must be a JSON object, got list")]


def test_media_checks_need_check_media(tmp_path, synth_dir, synth_records):
    """Spans past the video's end, undecodable media and wrong resolutions are found by decoding."""
    late = by_task(synth_records, "temporal grounding")
    late["answer"] = '{"time": [1.0, 99.0]}'
    resized = by_task(synth_records, "OCR")
    resized["resolution"] = [1, 1]
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "broken.mp4").write_bytes(b"not a video at all" * 10)
    shutil.copy(synth_dir / late["videos"][0], tmp_path / "media" / "clip.mp4")
    shutil.copy(synth_dir / resized["images"][0], tmp_path / "media" / "pic.png")
    late["videos"] = ["media/clip.mp4"]
    resized["images"] = ["media/pic.png"]
    broken = dict(late, videos=["media/broken.mp4"], answer='{"time": [1.0, 2.0]}')
    path = write(tmp_path, [late, resized, broken])
    _, quick = run(path)
    assert quick == []  # files exist; nothing is decoded
    _, problems = run(path, check_media=True)
    assert [(line, field) for line, field, _ in problems] == [(1, "answer"), (2, "resolution"), (3, "videos[0]")]
    assert "after the video's end" in problems[0][2]
    assert "but the media is" in problems[1][2]
    assert "media/broken.mp4" in problems[2][2]


def test_schema_only_mode_touches_no_files(tmp_path, synth_records):
    record = by_task(synth_records, "tracking")
    record["videos"] = ["media/absent.mp4"]
    _, with_files = run(write(tmp_path, [record]))
    _, without = run(write(tmp_path, [record]), check_files=False)
    assert [f for _, f, _ in with_files] == ["videos[0]"] and without == []


def test_json_list_lines_are_element_indices(tmp_path, synth_dir, synth_records):
    bad = by_task(synth_records, "numerical")
    bad["answer"] = "many"
    path = tmp_path / "c.json"
    path.write_text(json.dumps([by_task(synth_records, "OCR"), bad], indent=2))
    _, problems = run(path, media_root=synth_dir)
    assert [(line, field) for line, field, _ in problems] == [(2, "answer")]
