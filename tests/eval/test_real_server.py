"""`eval run` against a real OpenAI-compatible server: `transformers serve` on loopback with a tiny model that
answers in the `<think>...</think><answer>...</answer>` format, next to the HF backend on the same checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import onethinker
from onethinker.cli import app
from onethinker.data import read_records
from onethinker.eval.runner import GenerationSettings, HFBackend, eval_media

from .conftest import SMALL_MEDIA, media_options

runner = CliRunner()
MAX_NEW_TOKENS = 40


def _rows(path: Path) -> list[dict]:
    return [json.loads(raw) for raw in path.read_text().splitlines() if raw.strip()]


@pytest.fixture(scope="module")
def interrupted_then_resumed(transformers_server, heldout, tmp_path_factory):
    """`eval run` in a subprocess, killed (SIGKILL) once a few predictions are on disk, then the same command
    again. Returns (predictions path, rows on disk at the kill, the rerun's CLI output)."""
    out = tmp_path_factory.mktemp("served") / "pred.jsonl"
    args = ["eval", "run", "--model", transformers_server, "--bench", str(heldout / "data.jsonl"),
            "--media-root", str(heldout), "--out", str(out), "--max-new-tokens", str(MAX_NEW_TOKENS),
            "--concurrency", "1", *media_options()]
    src = str(Path(onethinker.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-m", "onethinker.cli", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (out.exists() and out.read_text().count("\n") >= 3):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no predictions after 240 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    at_kill = out.read_bytes().decode("utf-8", "replace")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, at_kill, result.output


def test_the_server_splits_the_reasoning_off_and_every_prediction_has_it_back_in_think(
        transformers_server, interrupted_then_resumed, heldout):
    # What the server sends: the thinking in `reasoning_content`, not in `content`.
    record = next(r for _, r in read_records(heldout / "data.jsonl"))
    from onethinker.eval.runner import OpenAIBackend

    backend = OpenAIBackend(transformers_server, media=eval_media(**SMALL_MEDIA))
    try:
        messages, extra = backend.messages(record, heldout)
        assert backend.server == "transformers" and extra == {"chat_template_kwargs": {"do_resize": False}}
        body = {"model": backend.model_name, "messages": messages, "max_tokens": MAX_NEW_TOKENS,
                "temperature": 0.0, **extra}
        message = httpx.post(f"{transformers_server}/v1/chat/completions", json=body, timeout=120).json()[
            "choices"][0]["message"]
    finally:
        backend.close()
    assert message.get("reasoning_content") and "<think>" not in (message.get("content") or "")
    # What eval run wrote: every record, image and video, with its reasoning back in <think>.
    out, _, _ = interrupted_then_resumed
    rows = _rows(out)
    assert {r["data_type"] for r in rows} == {"image", "video"}
    assert len(rows) == 12
    for row in rows:
        assert row["response"].startswith("<think>") and len(row["response"]) > len("<think>") + 10, row["response"]
    # and how: the settings of the run ride on every row and head the report
    settings = rows[0]["eval_settings"]
    assert all(r["eval_settings"] == settings for r in rows)
    assert settings["server"] == "transformers" and settings["video_format"] == "images"
    assert settings["media"]["image_max_pixels"] == 4096 and settings["media"]["video_max_frames"] == 4
    assert settings["generation"] == {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 0.0, "top_p": 1.0}
    report = out.with_suffix(".md").read_text()
    assert "| media.image_max_pixels | `4096` |" in report and "| server | `transformers` |" in report


def test_a_killed_run_resumes_with_nothing_lost_or_repeated(interrupted_then_resumed, heldout):
    out, at_kill, output = interrupted_then_resumed
    before = [json.loads(raw) for raw in at_kill.split("\n")[:-1] if raw.strip()]  # whole lines (one may be torn)
    assert 2 <= len(before) < 12  # killed mid-run
    rows = _rows(out)
    ids = [r.problem_id for _, r in read_records(heldout / "data.jsonl")]
    assert sorted(r["problem_id"] for r in rows) == sorted(ids) and len(set(ids)) == 12
    assert rows[: len(before)] == before  # what was on disk stayed as it was
    assert f"{len(before)} already there" in " ".join(output.split())


def test_image_records_answer_exactly_as_the_hf_backend_does_at_greedy(
        interrupted_then_resumed, reasoning_model, heldout):
    """The server is handed our resized pixels (lossless PNG, `do_resize` off in its processor) and decodes
    greedily, so image records come back token for token as the HF backend answers them. Video records do not:
    `transformers serve` loads a `video_url` only from a URL or a path and samples it its own way, so video goes
    as its sampled frames, as images, and the model reads N images instead of one video with timestamps.

    Measured: the texts agree except for whitespace next to the reasoning's ends, which the server's response
    parser strips from `reasoning_content` (a reply cut at the token budget right after a space loses it), so
    the comparison ignores whitespace at the tag boundaries and the ends, and nothing else."""
    out, _, _ = interrupted_then_resumed
    served = {r["problem_id"]: r["response"] for r in _rows(out)}
    records = [r for _, r in read_records(heldout / "data.jsonl")]
    hf = HFBackend(reasoning_model, batch_size=1, media=eval_media(**SMALL_MEDIA),
                   settings=GenerationSettings(max_new_tokens=MAX_NEW_TOKENS))
    images = [r for r in records if r.data_type == "image"]
    local = {images[i].problem_id: text for i, text in hf.responses(images, heldout)}
    assert len(local) == 8
    assert {pid: _trim(served[pid]) for pid in local} == {pid: _trim(text) for pid, text in local.items()}


def _trim(text: str) -> str:
    return re.sub(r"\s*(</?think>|</?answer>)\s*", r"\1", text).strip()


def test_request_fields_a_server_does_not_take_are_clear_errors(transformers_server, heldout, tmp_path):
    base = ["eval", "run", "--model", transformers_server, "--bench", str(heldout / "data.jsonl"),
            "--media-root", str(heldout), "--limit", "1", "--max-new-tokens", "4", "--retries", "0"]
    # vLLM's video form, to a server detected as transformers serve: refused before any request
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "a.jsonl"), "--video-format", "video"])
    assert result.exit_code == 2
    assert "only vLLM accepts" in " ".join(result.output.split()) and not (tmp_path / "a.jsonl").exists()
    # told it is vLLM: the server refuses mm_processor_kwargs (HTTP 422) and the message says what to change
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "b.jsonl"), "--server", "vllm"])
    text = " ".join(result.output.split())
    assert result.exit_code != 0 and "HTTP 422" in text and "--server generic" in text, text
