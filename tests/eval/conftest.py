"""Shared fixtures for the evaluation tests: a synthetic held-out split, the tiny model, a stand-in server."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def heldout(tmp_path_factory) -> Path:
    """A synthetic held-out split: one record of each of the twelve tasks, with media and masks."""
    from onethinker.data import synthesize

    return synthesize(tmp_path_factory.mktemp("heldout"), 12, 0, split="test")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from onethinker.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny"), seed=0)


def prompt_key(messages: list[dict]) -> str:
    """What identifies a request: its text parts, plus a digest of its inline media (questions repeat)."""
    import hashlib

    parts = [p for m in messages for p in (m["content"] if isinstance(m["content"], list) else
                                           [{"type": "text", "text": m["content"]}])]
    text = "".join(p.get("text", "") for p in parts)
    media = hashlib.sha1("".join(json.dumps(p, sort_keys=True) for p in parts if p.get("type") != "text")
                         .encode()).hexdigest()
    return f"{text}#{media}"


class StandInServer:
    """A small OpenAI-compatible chat server on 127.0.0.1 (a random free port) answering canned completions.

    ``answers`` maps a prompt key (see :func:`prompt_key`) to the completion text. ``plan(key, attempt)``
    decides each call: ``"ok"``, ``"500"``, ``"429"``, ``"400"``, ``"drop"`` (close without answering) or
    ``"slow"`` (answer after ``slow_s``). It records every request so tests can inspect what was sent.
    """

    def __init__(self, answers: dict[str, str], plan: Callable[[str, int], str] | None = None,
                 slow_s: float = 1.0):
        self.answers = answers
        self.plan = plan or (lambda key, attempt: "ok")
        self.slow_s = slow_s
        self.attempts: Counter = Counter()
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                self._leave()  # the answer is decided: the client may send its next request as soon as it reads it
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _leave(self):
                if getattr(self, "counted", False):
                    self.counted = False
                    with server.lock:
                        server.in_flight -= 1

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "stand-in", "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = prompt_key(body["messages"])
                with server.lock:
                    server.bodies.append(body)
                    attempt = server.attempts[key]
                    server.attempts[key] += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                self.counted = True
                try:
                    time.sleep(0.02)  # let concurrent requests overlap
                    action = server.plan(key, attempt)
                    if action == "drop":
                        self.close_connection = True
                        return
                    if action == "slow":
                        time.sleep(server.slow_s)
                    if action in ("500", "429", "400"):
                        headers = {"Retry-After": "0"} if action == "429" else None
                        self._send(int(action), {"error": {"message": f"planned {action}"}}, headers)
                        return
                    text = server.answers.get(key, "<think>?</think><answer>?</answer>")
                    self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": text}}]})
                finally:
                    self._leave()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StandInServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_by_key(self) -> dict[str, list[dict]]:
        out = defaultdict(list)
        for body in self.bodies:
            out[prompt_key(body["messages"])].append(body)
        return out


def decode_data_url(url: str, kind: str = "png"):
    """Decode one ``data:image/<kind>;base64,...`` URL to a PIL image (asserting its form)."""
    from PIL import Image

    head, payload = url.split(",", 1)
    assert head == f"data:image/{kind};base64"
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def reference_answers(bench: Path, media_root: Path, server: str = "generic") -> dict[str, str]:
    """Request key -> the record's reference response (``sft_response``), for a stand-in server that answers
    correctly; keys come from the same request builder the backend uses (deterministic encoding) for that
    server kind (vLLM gets a video as one ``video_url``, the others as frames)."""
    from onethinker.data import read_records
    from onethinker.eval.runner import OpenAIBackend

    builder = OpenAIBackend("http://127.0.0.1:9", server=server)
    try:
        return {prompt_key(builder.messages(record, media_root)[0]): record.extra("sft_response")
                for _, record in read_records(bench)}
    finally:
        builder.close()


@pytest.fixture(scope="session")
def canned_answers(heldout) -> dict[str, str]:
    return reference_answers(heldout / "data.jsonl", heldout)


@pytest.fixture(scope="session")
def vllm_answers(heldout) -> dict[str, str]:
    return reference_answers(heldout / "data.jsonl", heldout, "vllm")


# ----------------------------------------------------------------------------------------------------------
# a real `transformers serve` (pip install 'onethinker[serving]') with a tiny model that has learned the format
# ----------------------------------------------------------------------------------------------------------

# The budgets the reasoning model below is trained at, and evaluated at (eval run's media options).
SMALL_MEDIA = {"image_max_pixels": 4096, "image_min_pixels": 1024, "video_max_pixels": 1024,
               "video_min_pixels": 1024, "video_max_frames": 4}


def media_options() -> list[str]:
    return ["--image-max-pixels", "4096", "--image-min-pixels", "1024", "--video-max-pixels", "1024",
            "--video-min-pixels", "1024", "--max-frames", "4"]


@pytest.fixture(scope="session")
def reasoning_model(tiny_model, heldout, tmp_path_factory) -> Path:
    """The tiny model after a short SFT on the held-out split's reference responses: its greedy answers start
    with ``<think>`` and depend on the media (a random model only repeats one token). ~20 s on one core."""
    from onethinker.train.config import SFTConfig, load_config
    from onethinker.train.sft import SFTTrainer

    out = tmp_path_factory.mktemp("reasoning")
    media = [f"data.{k}={v}" for k, v in SMALL_MEDIA.items()]
    cfg = load_config(SFTConfig, None, [
        f"model.path={tiny_model}", f"data.train_file={heldout / 'data.jsonl'}", f"data.media_root={heldout}",
        *media, f"trainer.output_dir={out}", "trainer.tensorboard=false", "trainer.threads=1",
        "trainer.max_steps=120", "trainer.batch_size=4", "trainer.micro_batch_size=4", "optim.lr=3e-3",
        "optim.warmup_ratio=0", "optim.scheduler=constant"])
    return Path(SFTTrainer(cfg).train())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def transformers_server(reasoning_model, tmp_path_factory):
    """``transformers serve`` pinned to the reasoning model, on a free loopback port, CPU; its URL."""
    for module in ("fastapi", "uvicorn", "openai"):  # the server's own dependencies (transformers[serving])
        pytest.importorskip(module, reason="`transformers serve` needs the serving extra: "
                            "pip install -e '.[serving]' (.ci/run installs it)")
    import subprocess
    import sys

    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(reasoning_model),
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32"]
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not come up in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ----------------------------------------------------------------------------------------------------------
# a tiny random-init SAM2 (transformers' Sam2VideoModel + processor), saved like a hub checkpoint
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_sam2(tmp_path_factory) -> Path:
    """A 128-pixel, ~1M-parameter SAM2 built from a config offline and saved with its processor: one folder both
    ``Sam2Model`` and ``Sam2VideoModel`` load, as ``facebook/sam2.1-hiera-*`` is. Random weights, except that
    the object-score head says "object present", so propagated masks are not all empty."""
    import torch
    from transformers import (Sam2ImageProcessor, Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor,
                              Sam2VideoVideoProcessor)

    size, hidden = 128, 128  # hidden must be a multiple of the 64-channel memory (transformers' layout)
    hiera = dict(model_type="sam2_hiera_det_model", hidden_size=8, num_attention_heads=1, image_size=[size, size],
                 blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
                 num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 4],
                 global_attention_blocks=[3], window_positional_embedding_background_size=[4, 4])
    config = Sam2VideoConfig(
        vision_config=dict(backbone_config=hiera, backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=hidden,
                           backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // 16] * 2]),
        prompt_encoder_config=dict(hidden_size=hidden, image_size=size, patch_size=16),
        mask_decoder_config=dict(hidden_size=hidden, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32),
        image_size=size, memory_attention_hidden_size=hidden, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64, memory_attention_rope_feat_sizes=[size // 16] * 2,
        memory_encoder_hidden_size=hidden, memory_encoder_output_channels=64, mask_downsampler_embed_dim=hidden,
        memory_fuser_embed_dim=hidden, memory_fuser_intermediate_dim=64, memory_fuser_num_layers=1)
    torch.manual_seed(0)
    model = Sam2VideoModel(config).eval()
    with torch.no_grad():
        head = model.mask_decoder.pred_obj_score_head.proj_out
        head.weight.zero_()
        head.bias.fill_(10.0)
    out = tmp_path_factory.mktemp("sam2") / "sam2-tiny"
    model.save_pretrained(out)
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size={"height": size, "width": size},
                                           mask_size={"height": size // 4, "width": size // 4}),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}))
    processor.save_pretrained(out)
    return out
