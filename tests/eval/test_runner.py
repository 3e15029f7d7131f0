"""`eval run`: the HF backend with the tiny model, the OpenAI-compatible backend against a real loopback server
(healthy, flaky and failing), resuming interrupted runs, and the CLI's reports."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onethinker.cli import app
from onethinker.eval.runner import GenerationSettings, OpenAIBackend, ServerError, run_benchmark

from .conftest import StandInServer, decode_data_url

runner = CliRunner()


def _lines(path):
    return [json.loads(raw) for raw in path.read_text().splitlines() if raw.strip()]


def _backend(url, **kwargs):
    defaults = dict(concurrency=3, timeout_s=5.0, max_retries=3, backoff_s=0.01,
                    settings=GenerationSettings(max_new_tokens=64))
    return OpenAIBackend(url, **{**defaults, **kwargs})


def test_openai_backend_end_to_end_with_inline_media_and_a_report(heldout, vllm_answers, tmp_path):
    out = tmp_path / "pred.jsonl"
    with StandInServer(vllm_answers) as server:
        result = runner.invoke(app, ["eval", "run", "--model", server.url, "--bench", str(heldout / "data.jsonl"),
                                     "--media-root", str(heldout), "--out", str(out), "--concurrency", "3",
                                     "--max-new-tokens", "64", "--by-task", "--server", "vllm"])
    assert result.exit_code == 0, result.output
    rows = _lines(out)
    assert len(rows) == 12 and all(r["response"] == r["sft_response"] for r in rows)
    assert server.max_in_flight <= 3
    # media went inline: images as PNG data URLs, videos as one video_url of comma-separated JPEG frames
    parts = [p for body in server.bodies for m in body["messages"] for p in m["content"] if isinstance(p, dict)]
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    videos = [p["video_url"]["url"] for p in parts if p["type"] == "video_url"]
    assert len(images) == 8 and len(videos) == 4  # 8 image tasks, 4 video tasks in the split
    assert decode_data_url(images[0]).size[0] % 32 == 0  # resized here to the vision factor, losslessly sent
    head, frames = videos[0].split(",", 1)
    assert head == "data:video/jpeg;base64" and len(frames.split(",")) > 1
    assert all(body["model"] == "stand-in" and body["temperature"] == 0.0 for body in server.bodies)
    # vLLM's processor is told to keep our sizes, and a video's sampling fps (its frames are already sampled)
    assert all(body["mm_processor_kwargs"]["do_resize"] is False for body in server.bodies)
    assert all(body["mm_processor_kwargs"]["fps"] == 2.0 for body in server.bodies
               if any(p.get("type") == "video_url" for m in body["messages"] for p in m["content"]))
    metrics = json.loads((tmp_path / "pred.metrics.json").read_text())
    assert len(metrics) == 12
    for group, values in metrics.items():  # reference answers score 100 everywhere masks are not involved
        if "segmentation" not in group:
            assert all(v == 100.0 for k, v in values.items() if k not in ("n", "unparseable")), (group, values)
    assert metrics["shapes-world / segmentation/image"]["gIoU"] > 80.0  # GrabCut from the reference prompt
    report = (tmp_path / "pred.md").read_text()
    assert "### shapes-world / temporal grounding" in report and "| R@0.5 | 100.0 |" in report


def test_video_frames_can_go_as_separate_images(heldout, canned_answers, tmp_path):
    with StandInServer(canned_answers) as server:
        backend = _backend(server.url, video_format="images")
        summary = run_benchmark(heldout / "data.jsonl", tmp_path / "p.jsonl", backend, heldout, show_progress=False)
    assert summary.written == 12
    kinds = {p["type"] for b in server.bodies for m in b["messages"] for p in m["content"]}
    assert "video_url" not in kinds and not any("mm_processor_kwargs" in b for b in server.bodies)
    assert backend.server == "generic"  # the stand-in's /v1/models names no known server


def test_flaky_server_is_retried_until_every_item_is_answered(heldout, canned_answers, tmp_path):
    keys = sorted(canned_answers)
    first_failure = {keys[0]: "500", keys[1]: "429", keys[2]: "drop", keys[3]: "slow", keys[4]: "500"}

    def plan(key, attempt):
        if key == keys[4] and attempt < 2:
            return "500"  # fails twice, succeeds on the third attempt
        return first_failure.get(key, "ok") if attempt == 0 else "ok"

    with StandInServer(canned_answers, plan, slow_s=1.0) as server:
        backend = _backend(server.url, timeout_s=0.4)
        summary = run_benchmark(heldout / "data.jsonl", tmp_path / "p.jsonl", backend, heldout, show_progress=False)
    assert summary.written == 12 and not summary.failures
    assert [server.attempts[k] for k in keys[:5]] == [2, 2, 2, 2, 3]
    assert all(server.attempts[k] == 1 for k in keys[5:])
    assert {r["response"] for r in _lines(tmp_path / "p.jsonl")} == set(canned_answers.values())


def test_items_that_keep_failing_are_reported_and_a_rerun_finishes_them(heldout, canned_answers, tmp_path):
    keys = sorted(canned_answers)
    broken = {keys[0]: "500", keys[1]: "400"}  # 500 forever (retried, bounded); 400 is not retried
    out = tmp_path / "p.jsonl"
    with StandInServer(canned_answers, lambda key, attempt: broken.get(key, "ok")) as server:
        summary = run_benchmark(heldout / "data.jsonl", out, _backend(server.url, max_retries=2), heldout,
                                show_progress=False)
    assert summary.written == 10 and len(summary.failures) == 2
    assert server.attempts[keys[0]] == 3 and server.attempts[keys[1]] == 1
    assert any("HTTP 400" in problem for _, problem in summary.failures)
    assert len(_lines(out)) == 10
    with StandInServer(canned_answers) as server:  # healthy again: only the two missing items are asked
        summary = run_benchmark(heldout / "data.jsonl", out, _backend(server.url), heldout, show_progress=False)
    assert summary.skipped == 10 and summary.written == 2
    assert set(server.attempts) == {keys[0], keys[1]}
    assert sorted(r["bench_line"] for r in _lines(out)) == list(range(1, 13))


def test_unreachable_server_fails_each_item_after_bounded_retries(heldout, tmp_path):
    backend = _backend("http://127.0.0.1:9", max_retries=1, timeout_s=0.5)  # nothing listens on port 9
    with pytest.raises(ServerError, match="after 2 attempts"):
        from onethinker.data import read_records

        backend.complete(next(read_records(heldout / "data.jsonl"))[1], heldout)


class _Recording:
    """A backend that answers with each record's reference response, remembers what it was asked, and can
    crash mid-run."""

    def __init__(self, crash_after=None):
        self.crash_after, self.asked = crash_after, []

    def responses(self, records, media_root=None):
        for i, record in enumerate(records):
            if self.crash_after is not None and i == self.crash_after:
                raise KeyboardInterrupt
            self.asked.append(record.problem_id)
            yield i, record.extra("sft_response")


def test_an_interrupted_run_loses_nothing_and_a_torn_line_is_repaired(heldout, tmp_path):
    out = tmp_path / "p.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(heldout / "data.jsonl", out, _Recording(crash_after=3), heldout,
                      show_progress=False)
    assert len(_lines(out)) == 3
    ids = [r["problem_id"] for r in map(json.loads, (heldout / "data.jsonl").read_text().splitlines())]
    with out.open("a") as fh:
        fh.write(f'{{"problem_id": "{ids[3]}", "resp')  # killed in the middle of a write
    again = _Recording()
    summary = run_benchmark(heldout / "data.jsonl", out, again, heldout, show_progress=False)
    assert summary.skipped == 3 and summary.written == 9 and len(again.asked) == 9
    rows = _lines(out)  # every line parses: the torn one was cut
    assert sorted(r["problem_id"] for r in rows) == sorted(ids) and len(set(ids)) == 12


def test_hf_backend_with_the_tiny_model_writes_predictions_and_a_report(heldout, tiny_model, tmp_path):
    out = tmp_path / "hf.jsonl"
    args = ["eval", "run", "--model", str(tiny_model), "--bench", str(heldout / "data.jsonl"),
            "--media-root", str(heldout), "--out", str(out), "--max-new-tokens", "8", "--batch-size", "6"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = _lines(out)
    assert len(rows) == 12 and all(isinstance(r["response"], str) for r in rows)
    metrics = json.loads((tmp_path / "hf.metrics.json").read_text())["shapes-world"]
    assert metrics["n"] == 12
    assert 0 <= metrics["unparseable"] <= 12 and "tracking/AO" in metrics
    assert "### shapes-world" in (tmp_path / "hf.md").read_text()
    result = runner.invoke(app, args)  # a rerun has nothing left to do
    assert result.exit_code == 0 and "0 new predictions" in result.output and len(_lines(out)) == 12


def test_hf_backend_batches_one_task_at_a_time_and_keeps_each_answer_with_its_record(heldout):
    from onethinker.data import read_records
    from onethinker.eval.runner import HFBackend

    records = [r for _, r in read_records(heldout / "data.jsonl")] * 3  # twelve tasks, interleaved, 3 each
    broken = records[4].problem_id  # a batch holding this record fails, and is retried record by record

    class Echo(HFBackend):  # answers with the problem id, and notes each batch's tasks
        def _load(self):
            self.batches = []

        def _generate(self, chunk):
            self.batches.append([r.key for r in chunk])
            if len(chunk) > 1 and any(r.problem_id == broken for r in chunk):
                raise OSError("unreadable media")
            return [r.problem_id for r in chunk]

    backend = Echo("unused", batch_size=2)
    answers = dict(backend.responses(records, heldout))
    assert sorted(answers) == list(range(36))
    assert all(answers[i] == records[i].problem_id for i in range(36))
    assert all(len(set(batch)) == 1 for batch in backend.batches)  # every batch is one task
    # 12 tasks x 2 batches (2 + 1 records); the failed batch of 2 is answered again as two batches of 1
    assert len({r.key for r in records}) == 12
    assert len(backend.batches) == 12 * 2 + 2 and sum(map(len, backend.batches)) == 36 + 2


def test_score_cli_reports_bad_lines_with_file_and_line(heldout, tmp_path):
    rows = [json.loads(x) for x in (heldout / "data.jsonl").read_text().splitlines()][:2]
    for r in rows:
        r["response"] = r["sft_response"]
    rows[1]["answer"] = "{not json"
    rows[1]["problem_type"] = "temporal grounding"
    rows[1]["data_type"] = "video"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = runner.invoke(app, ["eval", "score", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: answer:" in " ".join(result.output.split())


def test_score_cli_writes_metrics_and_report(heldout, tmp_path):
    rows = [json.loads(x) for x in (heldout / "data.jsonl").read_text().splitlines()]
    for r in rows:
        r["response"] = r["sft_response"]
    path = tmp_path / "pred.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = runner.invoke(app, ["eval", "score", str(path), "--media-root", str(heldout), "--out",
                                 str(tmp_path / "m.json"), "--report", str(tmp_path / "r.md"), "--by-task"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert len(metrics) == 12
    assert metrics["shapes-world / spatial-temporal grounding"]["m_vIoU"] == 100.0
    assert metrics["shapes-world / segmentation/video"]["J&F"] > 60.0  # GrabCut propagation from the keyframe
    assert (tmp_path / "r.md").read_text().startswith("# pred.jsonl")


@pytest.mark.parametrize("message, finish, expected", [
    ({"content": "<answer>A</answer>", "reasoning_content": "look"}, "stop", "<think>look</think><answer>A</answer>"),
    ({"content": "<answer>A</answer>", "reasoning": "look"}, "stop", "<think>look</think><answer>A</answer>"),
    ({"content": "<think>x</think><answer>A</answer>", "reasoning_content": "x"}, "stop",
     "<think>x</think><answer>A</answer>"),  # already whole: left alone
    ({"content": None, "reasoning_content": "cut off mid"}, "length", "<think>cut off mid"),  # never closed
    ({"content": "<answer>B</answer>"}, "stop", "<answer>B</answer>"),  # no reasoning field: nothing invented
    ({"content": [{"type": "text", "text": "<answer>C</answer>"}], "reasoning_content": ""}, "stop",
     "<think></think><answer>C</answer>"),
])
def test_reasoning_split_off_by_a_server_is_put_back_in_think(message, finish, expected):
    from onethinker.eval.runner import assemble_response

    assert assemble_response(message, finish) == expected


def test_server_kind_is_detected_from_the_model_listing():
    from onethinker.eval.runner import detect_server

    assert detect_server([{"id": "m", "owned_by": "vllm"}]) == "vllm"
    assert detect_server([{"id": "m", "owned_by": "sglang"}]) == "sglang"
    assert detect_server([{"id": "m", "owned_by": "local", "status": {"value": "loaded"}}]) == "transformers"
    assert detect_server([{"id": "gpt", "owned_by": "openai"}]) == "generic"


def test_a_rerun_with_other_settings_into_the_same_file_is_refused(heldout, canned_answers, tmp_path):
    from onethinker.eval.runner import SettingsMismatch, eval_media

    out = tmp_path / "p.jsonl"
    with StandInServer(canned_answers) as server:
        run_benchmark(heldout / "data.jsonl", out, _backend(server.url), heldout, show_progress=False, limit=2)
        with pytest.raises(SettingsMismatch, match=r"p.jsonl:1: eval_settings: .*media"):
            run_benchmark(heldout / "data.jsonl", out, _backend(server.url, media=eval_media(video_fps=1.0)),
                          heldout, show_progress=False)
    rows = _lines(out)
    assert len(rows) == 2 and rows[0]["eval_settings"]["media"]["video_fps"] == 2.0


def test_media_options_default_to_the_paper_and_reach_the_request(heldout, canned_answers, tmp_path):
    from onethinker.eval.runner import eval_media

    paper = eval_media()
    assert (paper.image_max_pixels, paper.video_max_pixels, paper.video_fps, paper.video_max_frames) == (
        1024 * 32 * 32, 256 * 32 * 32, 2.0, 128)
    with pytest.raises(ValueError, match="image_min_pixels .* above"):
        eval_media(image_min_pixels=8192, image_max_pixels=4096)
    with StandInServer(canned_answers) as server:
        result = runner.invoke(app, ["eval", "run", "--model", server.url, "--bench", str(heldout / "data.jsonl"),
                                     "--media-root", str(heldout), "--out", str(tmp_path / "p.jsonl"),
                                     "--limit", "7", "--image-max-pixels", "2048", "--image-min-pixels", "1024",
                                     "--video-max-pixels", "1024", "--video-min-pixels", "1024",
                                     "--max-frames", "4", "--fps", "2"])
    assert result.exit_code == 0, result.output
    frame_counts = []
    for body in server.bodies:  # the stand-in is a generic server: a video goes as its frames, as images
        urls = [p["image_url"]["url"] for m in body["messages"] for p in m["content"] if p["type"] == "image_url"]
        sizes = [decode_data_url(u).size for u in urls]
        video = len(urls) > 1
        frame_counts.append(len(urls))
        assert all(w * h <= (1024 if video else 2048) and w % 32 == 0 and h % 32 == 0 for w, h in sizes), sizes
    assert max(frame_counts) == 4  # the 7th record, a 3 s video (6 frames at 2 fps), capped at 4
    media = _lines(tmp_path / "p.jsonl")[0]["eval_settings"]["media"]
    assert media == {"image_min_pixels": 1024, "image_max_pixels": 2048, "video_fps": 2.0, "video_max_frames": 4,
                     "video_min_pixels": 1024, "video_max_pixels": 1024}
