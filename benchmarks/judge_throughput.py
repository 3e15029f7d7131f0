"""Judged scoring throughput against the loopback stand-in judge at several concurrency levels.

    python benchmarks/judge_throughput.py [--items 2048] [--batch-size 64] [--delay-ms 0 50]
                                          [--concurrency 1 8 32] [--endpoint vllm_pooling] [--repeats 3]

For each (stand-in delay per request, concurrency) it times ``score_batch(items, judge=...)`` on
open-ended items (median of the repeats, a fresh client each run) and prints items/s, the requests sent,
the most requests the server held at once and the judged share. A delay of 0 measures our client, the
HTTP transport and the stand-in's JSON work on this machine; a non-zero delay stands in for model time on
a GPU server, where concurrency is what hides it. The stand-in lives in tests/rewards/judge_standin.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

from onethinker.rewards import JudgeConfig, score_batch
from onethinker.rewards.judge import JudgeClient

_spec = importlib.util.spec_from_file_location(
    "judge_standin", Path(__file__).resolve().parents[1] / "tests" / "rewards" / "judge_standin.py")
judge_standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(judge_standin)

WORDS = "a red blue green circle square triangle moves left right on white black background slowly quickly".split()


def make_items(n: int) -> list[dict]:
    items = []
    for i in range(n):
        answer = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(8 + i % 24))
        items.append({"response": f"<think>look</think><answer>{answer}</answer>",
                      "ground_truth": "a red circle moves left on a white background", "problem_type": "open-ended",
                      "data_type": "video", "problem": f"Describe video {i // 8}.", "problem_id": i // 8})
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--delay-ms", type=float, nargs="+", default=[0.0, 50.0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--endpoint", default="vllm_pooling", choices=["vllm_pooling", "sglang_classify"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    items = make_items(args.items)
    header = (f"{'delay ms':>8} {'conc':>4} {'wall s':>8} {'items/s':>9} {'requests':>8} {'max in flight':>13} "
              f"{'judged':>7}")
    print(f"{args.items} open-ended items, batch size {args.batch_size}, endpoint {args.endpoint}, "
          f"median of {args.repeats}")
    print(header)
    print("-" * len(header))
    for delay in args.delay_ms:
        for conc in args.concurrency:
            walls, stats, peak = [], None, 0
            for _ in range(args.repeats):
                with judge_standin.StandinJudge(delay_s=delay / 1000.0) as server:
                    client = JudgeClient(JudgeConfig(url=server.url, model="standin", endpoint=args.endpoint,
                                                     batch_size=args.batch_size, concurrency=conc))
                    t0 = time.perf_counter()
                    results = score_batch(items, judge=client)
                    walls.append(time.perf_counter() - t0)
                    client.close()
                    stats, peak = results.judge_stats, max(peak, server.max_in_flight)
            wall = statistics.median(walls)
            print(f"{delay:>8.0f} {conc:>4} {wall:>8.3f} {args.items / wall:>9.0f} {stats.requests:>8} {peak:>13} "
                  f"{stats.judged_share:>7.0%}")


if __name__ == "__main__":
    main()
