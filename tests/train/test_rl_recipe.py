"""The RL recipe: online-filter thresholds checked against the filtered reward's range, prompts drawn evenly
across tasks with exact resume, re-forwarded log-probs equal to the sampling distribution with suppressed tokens,
and a bandit on the tiny model that learns to give the rewarded answer."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from onethinker.train.common import TaskBalancedSampler
from onethinker.train.config import ConfigError, RLConfig, load_config
from onethinker.train.metrics import read_metrics
from onethinker.train.rl import Group, RLTrainer

SMALL = ["data.image_max_pixels=4096", "data.image_min_pixels=1024", "data.video_max_pixels=1024",
         "data.video_min_pixels=1024", "data.video_max_frames=4", "trainer.tensorboard=false", "trainer.threads=1"]


def _cfg(model, corpus, out, *extra):
    return load_config(RLConfig, None, [f"model.path={model}", f"data.train_file={corpus}",
                                        f"trainer.output_dir={out}", *SMALL, *extra])


# ------------------------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("override, key", [
    (["rollout.filter_high=1.2"], "rollout.filter_high"),  # accuracy (the default) lies in [0, 1]
    (["rollout.filter_low=-0.1"], "rollout.filter_low"),
    (["rollout.filter_key=format", "rollout.filter_high=1.01"], "rollout.filter_high"),
    (["rollout.filter_key=overall", "rollout.filter_high=1.6"], "rollout.filter_high"),  # overall: [0, 1.5]
])
def test_filter_thresholds_outside_the_filtered_rewards_range_are_rejected(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(RLConfig, None, ["model.path=m", "data.train_file=f", *override])
    message = str(err.value)
    assert f"{key}:" in message and "outside the range" in message and "rollout.filter_key" in message
    assert f"override '{override[-1]}'" in message  # names where the bad value came from


def test_thresholds_inside_the_range_load():
    cfg = load_config(RLConfig, None, ["model.path=m", "data.train_file=f", "rollout.filter_key=overall",
                                       "rollout.filter_low=0.6", "rollout.filter_high=1.4"])
    assert (cfg.rollout.filter_low, cfg.rollout.filter_high) == (0.6, 1.4)
    default = load_config(RLConfig, None, ["model.path=m", "data.train_file=f"])
    assert default.rollout.filter_key == "accuracy" and default.data.balance_tasks is True
    with pytest.raises(ConfigError, match="filter_low < filter_high"):
        load_config(RLConfig, None, ["model.path=m", "data.train_file=f", "rollout.filter_low=0.5",
                                     "rollout.filter_high=0.5"])


# ------------------------------------------------------------------------------------------- sampler
KEYS = ["a"] * 10 + ["b"] * 3 + ["c"]  # very unequal task sizes


def test_prompts_are_drawn_evenly_across_tasks_whatever_their_sizes():
    sampler = TaskBalancedSampler(KEYS, seed=0)
    drawn = []
    for step in range(1, 8):
        drawn += sampler.take(5)
        counts = Counter(KEYS[i] for i in drawn)
        assert max(counts.values()) - min(counts.values()) <= 1, (step, counts)  # at every point
    per_task = Counter(KEYS[i] for i in drawn)
    assert sorted(per_task.values()) == [11, 12, 12]  # 35 draws over three tasks
    counts = Counter(drawn)
    # each task walks its own records in passes: task b's three records come up 11 or 12 / 3 times each
    assert {counts[i] for i in range(10, 13)} <= {3, 4} and counts[13] == per_task["c"]
    assert {counts[i] for i in range(10)} <= {1, 2}
    a_draws = [i for i in drawn if i < 10]
    assert sorted(a_draws[:10]) == list(range(10))  # a whole pass over task a before any record repeats


def test_the_draw_is_deterministic_from_the_seed_and_resumes_exactly():
    one, two = TaskBalancedSampler(KEYS, seed=3), TaskBalancedSampler(KEYS, seed=3)
    assert one.take(40) == two.take(40)  # every data-parallel rank draws the same global list
    assert TaskBalancedSampler(KEYS, seed=3).take(40) != TaskBalancedSampler(KEYS, seed=4).take(40)
    first = TaskBalancedSampler(KEYS, seed=3)
    first.take(17)
    state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint's state.json holds
    expected = first.take(30)
    resumed = TaskBalancedSampler(KEYS, seed=3)
    resumed.load_state_dict(state)
    assert resumed.take(30) == expected
    with pytest.raises(ValueError, match="covers tasks"):
        TaskBalancedSampler(["a", "b"], seed=3).load_state_dict(state)
    with pytest.raises(ValueError, match="balance_tasks=false"):
        TaskBalancedSampler(KEYS).load_state_dict({"epoch": 0, "position": 3})


def test_take_tasks_draws_the_named_tasks_next_records_and_leaves_the_rounds_alone():
    sampler, twin = TaskBalancedSampler(KEYS, seed=5), TaskBalancedSampler(KEYS, seed=5)
    assert sampler.take(4) == twin.take(4)
    picked = sampler.take_tasks(["c", "b", "b"])
    assert [KEYS[i] for i in picked] == ["c", "b", "b"]
    assert picked[1] != picked[2]  # task b walks on through its own records
    # the rounds go on where they were: the same tasks in the same order as the twin's draw
    assert [KEYS[i] for i in sampler.take(8)] == [KEYS[i] for i in twin.take(8)]
    assert sampler.take_tasks([]) == []
    with pytest.raises(ValueError, match=r"no training records of task\(s\) \['d'\]"):
        sampler.take_tasks(["a", "d"])
    state = json.loads(json.dumps(sampler.state_dict()))
    resumed = TaskBalancedSampler(KEYS, seed=5)
    resumed.load_state_dict(state)
    assert resumed.take_tasks(["a", "b"]) == sampler.take_tasks(["a", "b"])  # task positions are checkpointed


def test_the_trainer_draws_each_step_across_all_twelve_tasks(tiny_model, synth_corpus, tmp_path):
    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.n=2",
               "rollout.prompts_per_step=12", "rollout.max_new_tokens=2", "rollout.online_filtering=false",
               "algorithm.kl_coef=0", "algorithm.mini_batch_prompts=12", "algorithm.micro_batch_size=24")
    trainer = RLTrainer(cfg)
    trainer.train()
    (row,) = read_metrics(tmp_path / "run")
    assert len([k for k in row if k.startswith("reward/accuracy/")]) == 12  # one prompt of each task


# ------------------------------------------------------------------------------------------- re-forward
def _token_ids(trainer, texts):
    return [trainer.processor.tokenizer.convert_tokens_to_ids(t) for t in texts]


def test_reforward_logprobs_equal_the_sampling_distribution_with_suppressed_tokens(tiny_model, synth_corpus,
                                                                                     tmp_path):
    import torch

    from onethinker.models.encode import collate_prompts, prepare_prompt
    from onethinker.models.generate import decode_ids
    from onethinker.train.forward import token_logprobs

    cfg = _cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1", "rollout.n=2",
               "rollout.temperature=0.7", "rollout.max_new_tokens=10", "algorithm.kl_coef=0")
    trainer = RLTrainer(cfg)
    model = trainer.model
    model.eval()
    gen = trainer.generation_config()
    vocab = model.get_output_embeddings().weight.shape[0]
    eos = set(gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id])
    # Ban a large block of ordinary tokens as well, so that a re-forward over the whole vocabulary is far off.
    gen.suppress_tokens = sorted(set(gen.suppress_tokens) | {t for t in range(40, vocab // 2) if t not in eos})
    records = [trainer.records[i] for i in (0, 6, 7)]  # image and video prompts
    prompts = [prepare_prompt(trainer.processor, r, trainer.media_root, media=trainer.media) for r in records]
    batch = collate_prompts(trainer.processor, prompts)
    scores: list = []  # the log-probabilities the rollouts are drawn from (generate_ids' loop)
    torch.manual_seed(0)
    responses = decode_ids(model, {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}, gen,
                           scores=scores)
    groups = [Group(j, rec, prompts[j], responses[2 * j : 2 * j + 2], ["", ""], [{}, {}])
              for j, rec in enumerate(records)]
    rows = trainer._rows(groups)
    sub, lp, ent = trainer._logprobs(model, groups, batch, rows, grad=False, entropy=True)
    checked = 0
    for r, (gi, k) in enumerate(rows):
        for t, token in enumerate(groups[gi].response_ids[k]):
            sampling = scores[t][r]
            assert lp[r, t].item() == pytest.approx(sampling[token].item(), abs=2e-4)
            p = sampling.exp()
            expected_entropy = -(p * sampling.masked_fill(p == 0, 0.0)).sum()
            assert ent[r, t].item() == pytest.approx(expected_entropy.item(), abs=2e-4)
            assert token not in gen.suppress_tokens
            checked += 1
    assert checked >= 12
    # Without the mask the log-probs are those of a different distribution.
    unmasked, _ = token_logprobs(model, sub, temperature=0.7)
    mask = sub["response_mask"].bool()
    assert (lp - unmasked)[mask].abs().mean() > 0.05
    assert torch.isfinite(lp).all() and torch.isfinite(ent).all()


# ------------------------------------------------------------------------------------------- bandit
def _letter_corpus(root, n=8):
    """``n`` image multiple-choice records whose answer is always B."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    lines = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
        lines.append({"problem": "<image>Which letter?", "problem_type": "multiple choice", "data_type": "image",
                      "options": ["A. one", "B. two", "C. three", "D. four"], "answer": "B",
                      "images": [f"img/{i}.png"], "problem_id": i})
    path = root / "letters.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _rate_of(trainer, token):
    """The policy's mean probability of answering ``token`` first, over every training prompt."""
    import torch

    from onethinker.models.encode import collate_prompts, prepare_prompt

    prompts = [prepare_prompt(trainer.processor, r, trainer.media_root, media=trainer.media)
               for r in trainer.records]
    groups = [Group(j, r, p, [[token]], [""], [{}]) for j, (r, p) in enumerate(zip(trainer.records, prompts))]
    batch = collate_prompts(trainer.processor, prompts)
    _, lp, _ = trainer._logprobs(trainer.model, groups, batch, trainer._rows(groups), grad=False)
    return float(lp[:, 0].exp().mean())


def test_an_rl_bandit_on_the_tiny_model_learns_the_rewarded_answer(tiny_model, tmp_path):
    corpus = _letter_corpus(tmp_path / "data")
    cfg = _cfg(tiny_model, corpus, tmp_path / "run", "trainer.max_steps=12", "rollout.prompts_per_step=8",
               "rollout.n=4", "rollout.max_new_tokens=1", "rollout.online_filtering=false", "algorithm.kl_coef=0",
               "algorithm.mini_batch_prompts=8", "algorithm.micro_batch_size=32", "optim.lr=1e-3",
               "optim.scheduler=constant")
    trainer = RLTrainer(cfg)
    letters = _token_ids(trainer, ["A", "B", "C", "D"])
    # One-token answers among four letters: the rollouts' suppress list bans every other token.
    gen = trainer.generation_config()
    gen.suppress_tokens = [t for t in range(trainer.model.get_output_embeddings().weight.shape[0])
                           if t not in letters]
    before = _rate_of(trainer, letters[1])
    trainer.train()
    after = _rate_of(trainer, letters[1])
    rows = read_metrics(tmp_path / "run")
    accuracy = [r["reward/accuracy"] for r in rows]
    assert 0.1 < before < 0.45  # about one in four at the start
    assert after > 0.7 and after > before + 0.3, (before, after, accuracy)
    assert sum(accuracy[-2:]) / 2 > accuracy[0] + 0.2, accuracy  # the sampled answers follow
