"""The RL trainer with a reward-model judge configured: judged accuracies, and judge metrics per step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from onethinker.rewards.judge import reset_clients
from onethinker.train.config import RLConfig, load_config
from onethinker.train.metrics import read_metrics
from onethinker.train.rl import RLTrainer

_spec = importlib.util.spec_from_file_location(
    "judge_standin", Path(__file__).resolve().parents[1] / "rewards" / "judge_standin.py")
judge_standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(judge_standin)

SMALL = ["data.image_max_pixels=4096", "data.image_min_pixels=1024", "data.video_max_pixels=1024",
         "data.video_min_pixels=1024", "data.video_max_frames=4", "trainer.tensorboard=false", "trainer.threads=1",
         "rollout.max_new_tokens=8", "rollout.n=2", "algorithm.micro_batch_size=4", "algorithm.kl_coef=0",
         "trainer.max_steps=1", "rollout.prompts_per_step=2", "rollout.online_filtering=false",
         "algorithm.mini_batch_prompts=2", "data.tasks=[open-ended]"]


def test_open_ended_rollouts_are_judged_and_the_step_logs_judge_metrics(tiny_model, synth_corpus, tmp_path):
    reset_clients()
    with judge_standin.StandinJudge() as server:
        cfg = load_config(RLConfig, None, [f"model.path={tiny_model}", f"data.train_file={synth_corpus}",
                                           f"trainer.output_dir={tmp_path / 'run'}", *SMALL,
                                           f"judge.url={server.url}", "judge.batch_size=3", "judge.backoff_s=0.01"])
        trainer = RLTrainer(cfg)
        trainer.train()
    reset_clients()
    (row,) = read_metrics(tmp_path / "run")
    assert (row["judge/judged"], row["judge/fallback"]) == (4, 0)  # 2 prompts x 2 rollouts, all open-ended
    assert sum(len(b["input"]) for _, b in server.requests) == 4 and len(server.requests) == 2  # batches of 3
    assert row["judge/latency_s"] > 0 and row["judge/judged_share"] == 1.0
    # Each rollout went out with its record's question, and the group (problem_id) is the prompt's.
    questions = {t.split("\n", 1)[0] for _, b in server.requests for t in b["input"]}
    assert questions <= {r.problem for r in trainer.records}


def test_a_dead_judge_still_trains_on_the_fallback_and_counts_it(tiny_model, synth_corpus, tmp_path):
    import socket

    reset_clients()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    cfg = load_config(RLConfig, None, [f"model.path={tiny_model}", f"data.train_file={synth_corpus}",
                                       f"trainer.output_dir={tmp_path / 'run'}", *SMALL, f"judge.url={url}",
                                       "judge.retries=2", "judge.backoff_s=0.01"])
    RLTrainer(cfg).train()
    reset_clients()
    (row,) = read_metrics(tmp_path / "run")
    assert (row["judge/judged"], row["judge/fallback"], row["judge/judged_share"]) == (0, 4, 0.0)
    assert row["actor/updates"] == 1
