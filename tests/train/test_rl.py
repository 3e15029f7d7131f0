"""The RL trainer: per-task metrics, online filtering with refill, estimators, checkpoints."""

from __future__ import annotations

import pytest
import torch

from onethinker.train.config import RLConfig, load_config
from onethinker.train.metrics import read_metrics
from onethinker.train.rl import RLTrainer

SMALL = ["data.image_max_pixels=4096", "data.image_min_pixels=1024", "data.video_max_pixels=1024",
         "data.video_min_pixels=1024", "data.video_max_frames=4", "trainer.tensorboard=false", "trainer.threads=1",
         "rollout.max_new_tokens=12", "rollout.n=2", "algorithm.micro_batch_size=4"]


def _cfg(model, corpus, out, *extra):
    return load_config(RLConfig, None, [f"model.path={model}", f"data.train_file={corpus}",
                                        f"trainer.output_dir={out}", *SMALL, *extra])


def test_a_step_logs_rewards_ema_and_phases_per_task(tiny_model, synth_corpus, tmp_path):
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.prompts_per_step=12",
               "rollout.online_filtering=false", "algorithm.mini_batch_prompts=6", "optim.lr=1e-3")
    trainer = RLTrainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    final = trainer.train()
    (row,) = read_metrics(tmp_path / "run")
    tasks = {r.key for r in trainer.records[:12]}
    assert len(tasks) == 12  # the corpus cycles through all twelve task keys
    sampled = {k.split("/", 2)[2] for k in row if k.startswith("reward/overall/")}
    assert sampled and sampled <= tasks
    for task in sampled:
        for name in ("reward/format/", "reward/accuracy/", "reward/structure/", "response_length/", "ema/mean/",
                     "ema/std/", "adv_abs/", "kl/", "entropy/", "clip_frac/"):
            assert f"{name}{task}" in row, name + task
    for phase in ("generate", "reward", "ref_logprob", "update", "step"):
        assert row[f"time/{phase}"] > 0
    assert row["rollouts"] == 24 and row["actor/updates"] == 2  # 12 prompts x 2, two mini-batches of 6 prompts
    kept = {k.split("/", 2)[2]: v for k, v in row.items() if k.startswith("filter/kept_groups/")}
    assert kept == {task: 1 for task in sampled} and row["filter/kept_groups"] == 12  # no filter: one a task
    assert row["response_length"] <= 12
    # A random policy still moves: two optimizer updates changed the weights.
    assert any(not v.equal(dict(trainer.model.named_parameters())[k]) for k, v in before.items())
    assert (final / "config.json").is_file() and (final / "ema_state.json").is_file()


def test_filtering_drops_hopeless_groups_and_retries_up_to_the_limit(tiny_model, synth_corpus, tmp_path):
    # A random model answers nothing right: every group's accuracy is 0, so every group is dropped.
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.prompts_per_step=3",
               "rollout.max_tries=2", "rollout.filter_key=accuracy", "data.balance_tasks=false")
    trainer = RLTrainer(cfg)
    trainer.train()
    (row,) = read_metrics(tmp_path / "run")
    assert row["filter/tries"] == 2 and row["filter/kept_groups"] == 0
    assert row["filter/dropped_groups"] == 6  # 3 prompts per try, two tries
    assert sum(v for k, v in row.items() if k.startswith("filter/dropped_groups/")) == 6
    assert row["rollouts"] == 12 and "actor/pg_loss" not in row and "time/update" not in row
    assert trainer.sampler.state_dict() == {"epoch": 0, "position": 6}  # the refill drew fresh prompts


@pytest.mark.parametrize("refill", ["stream", "task"])
def test_refill_takes_the_streams_next_prompts_or_the_dropped_groups_tasks(tiny_model, synth_corpus, tmp_path,
                                                                              refill):
    # Every group is dropped (a random model answers nothing right), so each round refills all three.
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.prompts_per_step=3",
               "rollout.max_tries=3", "rollout.filter_key=accuracy", f"rollout.refill={refill}",
               "rollout.max_new_tokens=2")
    trainer = RLTrainer(cfg)
    data = trainer.collect()
    assert data.tries == 3 and not data.groups and len(data.scored) == 9
    rounds = [[g.task for g in data.scored[i:i + 3]] for i in (0, 3, 6)]
    if refill == "task":  # each dropped group comes back as a fresh prompt of its own task
        assert rounds[0] == rounds[1] == rounds[2]
    else:  # the sampler's next prompts: nine different tasks of the twelve
        assert len({t for r in rounds for t in r}) == 9
    first, second = ({g.index for g in data.scored[i:i + 3]} for i in (0, 3))
    assert len(first) == len(second) == 3 and not first & second  # fresh records either way


@pytest.mark.parametrize("advantage", ["grpo", "dr_grpo"])
def test_other_estimators_train_and_still_track_ema(tiny_model, synth_corpus, tmp_path, advantage):
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.prompts_per_step=4",
               "rollout.online_filtering=false", f"algorithm.advantage={advantage}", "algorithm.kl_coef=0",
               "algorithm.ppo_epochs=2")
    RLTrainer(cfg).train()
    (row,) = read_metrics(tmp_path / "run")
    assert row["actor/updates"] == 2 and row["time/old_logprob"] > 0  # two updates need old log-probs
    assert "time/ref_logprob" not in row and "kl/multiple choice" not in row  # no KL, no reference pass
    assert any(k.startswith("ema/std/") for k in row)
    assert all(0.0 <= row[k] <= 1.0 for k in row if k.startswith("clip_frac/"))


@pytest.mark.parametrize("shuffle", [False, True])
def test_shuffled_advantages_are_the_real_ones_permuted_within_each_group(tiny_model, synth_corpus, tmp_path,
                                                                          monkeypatch, shuffle):
    from onethinker import rl

    calls = []
    real = rl.shuffle_within_groups

    def spy(values, gids, generator=None):
        out = real(values, gids, generator)
        calls.append((values.clone(), list(gids), out.clone()))
        return out

    monkeypatch.setattr(rl, "shuffle_within_groups", spy)
    # A random policy scores every rollout alike (all advantages 0); distinct advantages make the check bite.
    real_ema = rl.ema_grpo_advantages
    monkeypatch.setattr(rl, "ema_grpo_advantages",
                        lambda scores, *args, **kw: real_ema(scores, *args, **kw) + torch.arange(len(scores)))
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=2", "rollout.prompts_per_step=4",
               "rollout.n=3", "rollout.online_filtering=false", "algorithm.kl_coef=0",
               f"algorithm.shuffle_advantages={str(shuffle).lower()}")
    RLTrainer(cfg).train()
    assert len(calls) == (2 if shuffle else 0)  # once per step, only for the control
    for values, gids, out in calls:
        assert len(values) == 12 and len(set(gids)) == 4
        for g in set(gids):
            where = [i for i, x in enumerate(gids) if x == g]
            assert sorted(out[where].tolist()) == sorted(values[where].tolist())
    assert not shuffle or any(not out.equal(values) for values, _, out in calls)  # something moved


def test_train_only_moves_only_the_named_weights(tiny_model, synth_corpus, tmp_path):
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.prompts_per_step=4",
               "rollout.online_filtering=false", "algorithm.kl_coef=0.1", "optim.lr=1e-2",
               r"model.train_only=['language_model\.layers\.1\.']")
    trainer = RLTrainer(cfg)
    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    moved = {k for k, v in before.items() if not v.equal(after[k])}
    assert moved and all("language_model.layers.1." in k for k in moved)
    assert all(p.requires_grad == ("language_model.layers.1." in k) for k, p in after.items())
