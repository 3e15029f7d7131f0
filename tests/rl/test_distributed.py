"""Two CPU ranks over torch.distributed (gloo) agree with one process on the gathered batch."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from onethinker.rl import EMATracker, ema_grpo_advantages

N_STEPS = 4


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _batches() -> list[list[tuple[torch.Tensor, list[str], list[str]]]]:
    """Per step, the local batch of rank 0 and rank 1 (each a list of whole groups).

    The ranks hold different task mixes (rank 0 never sees OCR, rank 1 never sees math in step 0) and in
    the last step rank 1 has no rollouts at all, yet every rank must end with the same statistics.
    """
    gen = torch.Generator().manual_seed(0)
    steps = []
    for step in range(N_STEPS):
        shards = []
        for rank in range(2):
            if step == N_STEPS - 1 and rank == 1:
                shards.append((torch.zeros(0, dtype=torch.float64), [], []))
                continue
            tasks = ["math", "spatial grounding"] if rank == 0 else ["OCR", "spatial grounding"]
            if step > 0 and rank == 1:
                tasks.append("math")
            scores, groups, keys = [], [], []
            for j, task in enumerate(tasks):
                if task == "math":
                    vals = (torch.rand(4, generator=gen) < 0.4).double()
                else:
                    vals = 0.5 + 0.1 * torch.rand(4, generator=gen, dtype=torch.float64)
                scores.append(vals)
                groups += [f"s{step}r{rank}g{j}"] * 4
                keys += [task] * 4
            shards.append((torch.cat(scores), groups, keys))
        steps.append(shards)
    return steps


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        tracker = EMATracker(decay=0.9)
        advantages = [ema_grpo_advantages(*step[rank], tracker) for step in _batches()]
        torch.save({"advantages": advantages, "state": tracker.state_dict()}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_match_a_single_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    single = EMATracker(decay=0.9)
    for step, (shard0, shard1) in enumerate(_batches()):
        full = (torch.cat([shard0[0], shard1[0]]), shard0[1] + shard1[1], shard0[2] + shard1[2])
        expected = ema_grpo_advantages(*full, single)
        got = torch.cat([results[0]["advantages"][step], results[1]["advantages"][step]])
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)

    assert results[0]["state"] == results[1]["state"]  # every rank holds identical statistics
    for key, entry in single.state_dict()["tasks"].items():
        got = results[0]["state"]["tasks"][key]
        assert abs(got["m1"] - entry["m1"]) < 1e-12 and abs(got["m2"] - entry["m2"]) < 1e-12
        assert got["updates"] == entry["updates"]
    assert sorted(results[0]["state"]["tasks"]) == ["OCR", "math", "spatial grounding"]


def test_without_synchronisation_the_ranks_would_disagree():
    # The same shards fed to independent per-rank trackers give different statistics, so the match above
    # is the all-reduce's doing.
    local = [EMATracker(decay=0.9, distributed=False) for _ in range(2)]
    for shard0, shard1 in _batches():
        local[0].update(shard0[0], shard0[2])
        local[1].update(shard1[0], shard1[2])
    assert local[0].std("spatial grounding") != local[1].std("spatial grounding")
