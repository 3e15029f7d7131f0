"""How fast does ``eval run`` answer a benchmark through a real ``transformers serve``, by concurrency, beside
the HF backend on the same checkpoint?

Builds the tiny Qwen3-VL (random weights: every answer runs to the token budget, so each record costs the same)
and a synthetic held-out split (image and video records), starts ``transformers serve`` on a free loopback
port (CPU unless --device says otherwise), then times ``run_benchmark`` into a fresh predictions file with
the server backend at each concurrency and with the HF backend in-process. Needs the serving extra
(``pip install 'onethinker[serving]'``).

    python benchmarks/eval_server.py                    # 24 records, 32 new tokens, concurrency 1 4 16
    python benchmarks/eval_server.py --n 48 --max-new-tokens 64 --continuous-batching
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from onethinker.data import synthesize
from onethinker.eval.runner import GenerationSettings, HFBackend, OpenAIBackend, eval_media, run_benchmark
from onethinker.models.tiny import build_tiny

# Small budgets: the tiny model's processor allows at most 256*256 pixels per image.
MEDIA = dict(image_max_pixels=4096, image_min_pixels=1024, video_max_pixels=1024, video_min_pixels=1024,
             video_max_frames=4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(model: Path, device: str, continuous_batching: bool, log: Path):
    port = _free_port()
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--device", device, "--dtype", "float32"]
    if continuous_batching:
        command.append("--continuous-batching")
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"transformers serve exited ({process.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"transformers serve did not come up in 180 s; see {log}")


def _timed(bench: Path, out: Path, backend, media_root: Path) -> tuple[int, float]:
    start = time.perf_counter()
    summary = run_benchmark(bench, out, backend, media_root, show_progress=False)
    took = time.perf_counter() - start
    if summary.failures:
        raise SystemExit(f"{len(summary.failures)} failures, e.g. {summary.failures[0]}")
    return summary.written, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24, help="records (a mix of all twelve task kinds)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--hf-batch-size", type=int, nargs="*", default=[1, 8], help="none: skip the HF rows")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--continuous-batching", action="store_true", help="start the server with it")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="onethinker_eval_server_"))
    model = build_tiny(work / "tiny", seed=0)
    data = synthesize(work / "bench", args.n, 0, split="test")
    bench = data / "data.jsonl"
    media = eval_media(**MEDIA)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    rows = []
    process, url = _serve(model, args.device, args.continuous_batching, work / "serve.log")
    try:
        for concurrency in args.concurrency:
            backend = OpenAIBackend(url, concurrency=concurrency, settings=settings, media=media)
            try:
                n, took = _timed(bench, work / f"server_{concurrency}.jsonl", backend, data)
            finally:
                backend.close()
            rows.append((f"transformers serve ({backend.server})", f"concurrency {concurrency}", n, took))
    finally:
        process.terminate()
        process.wait(timeout=30)
    for batch_size in args.hf_batch_size:
        backend = HFBackend(model, device=args.device, batch_size=batch_size, settings=settings, media=media)
        n, took = _timed(bench, work / f"hf_{batch_size}.jsonl", backend, data)
        rows.append(("HF generate (in-process)", f"batch {batch_size}", n, took))

    print(f"{args.n} records, {args.max_new_tokens} new tokens each, device {args.device}"
          f"{', server with continuous batching' if args.continuous_batching else ''}")
    print(f"{'backend':<32} {'setting':<16} {'records':>8} {'seconds':>8} {'records/s':>10}")
    for name, setting, n, took in rows:
        print(f"{name:<32} {setting:<16} {n:>8} {took:>8.2f} {n / took:>10.2f}")


if __name__ == "__main__":
    main()
