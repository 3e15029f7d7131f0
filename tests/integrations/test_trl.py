"""The TRL integration: reward functions, the corpus as TRL rows, and EMAGRPOTrainer on the real TRL GRPOTrainer."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import torch

from onethinker.data.records import RecordError
from onethinker.integrations import trl as onethinker_trl
from onethinker.integrations.trl import accuracy_reward, format_reward, overall_reward, structure_reward, trl_rows
from onethinker.rl import EMATracker, ema_grpo_advantages
from onethinker.tasks import task_key

COLUMNS = {
    "answer": ["B", '{"time": [2.0, 6.0]}'],
    "problem_type": ["multiple choice", "temporal grounding"],
    "data_type": ["image", "video"],
}
COMPLETIONS = ["<think>red</think><answer>B</answer>", '<think>t</think><answer>{"time": [4.0, 6.0]}</answer>']


def test_parts_sum_to_overall_with_published_weights():
    acc = accuracy_reward([], COMPLETIONS, **COLUMNS)
    fmt = format_reward([], COMPLETIONS, **COLUMNS)
    struct = structure_reward([], COMPLETIONS, **COLUMNS)
    assert acc == [1.0, pytest.approx(0.5)]  # tIoU of [4,6] in [2,6] is 2/4
    assert fmt == [1.0, 1.0]
    assert struct == [0.5, 0.5]
    combined = [0.9 * a + 0.1 * f + s for a, f, s in zip(acc, fmt, struct)]
    assert overall_reward([], COMPLETIONS, **COLUMNS) == pytest.approx(combined)


def test_conversational_completions_and_solution_column():
    conversational = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    columns = dict(COLUMNS, solution=COLUMNS["answer"])
    del columns["answer"]
    assert accuracy_reward([], conversational, **columns) == [1.0, pytest.approx(0.5)]


def test_missing_columns_name_what_is_needed():
    with pytest.raises(KeyError, match="ground-truth column"):
        overall_reward([], COMPLETIONS, problem_type=["math"], data_type=["image"])
    with pytest.raises(KeyError, match="data_type"):
        overall_reward([], COMPLETIONS[:1], answer=["B"], problem_type=["multiple choice"])


# ---------------------------------------------------------------------------------------------- the trainer
# The trainer needs the `trl` extra (CI installs it); the names below import it when first used.
needs_trl = pytest.mark.skipif(importlib.util.find_spec("trl") is None,
                               reason="needs the trl extra: pip install 'onethinker[trl]'")
EMA_STATE_NAME = "onethinker_ema.json"  # the documented file name, spelled out so a rename fails here

WEIGHTS = [1.0, 0.5]


def distinct_chars(completions, **_):
    """A reward that varies between random completions (OneThinker's own is 0 on a random model's text)."""
    return [len(set(c[0]["content"] if isinstance(c, list) else c)) / 8 for c in completions]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("trl_tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory):
    """Two synthetic corpora (seeds 0 and 1) of one multiple choice and one numerical image record each."""
    from onethinker.data.synth import synthesize

    root = tmp_path_factory.mktemp("trl_corpus")
    return [synthesize(root / f"seed{seed}", 2, seed) / "data.jsonl" for seed in (0, 1)]


@pytest.fixture(scope="module")
def image_rows(corpus_files):
    """Four image rows of two tasks as one ``datasets.Dataset``."""
    import datasets

    return datasets.concatenate_datasets([onethinker_trl.trl_dataset(f) for f in corpus_files])


def _trainer(model_dir, dataset, out, **overrides):
    from transformers import AutoProcessor, GenerationConfig

    # TRL bans only the image token by default; the tiny model's own list keeps a random policy from sampling
    # other vision placeholders, which its re-forward would reject.
    banned = GenerationConfig.from_pretrained(model_dir).suppress_tokens
    settings = dict(
        output_dir=str(out), per_device_train_batch_size=4, num_generations=2, max_completion_length=6,
        learning_rate=1e-4, use_cpu=True, logging_steps=1, report_to="none", max_steps=3, save_steps=1,
        seed=0, dataloader_num_workers=0, disable_tqdm=True, reward_weights=WEIGHTS,
        generation_kwargs={"suppress_tokens": banned},
    )
    settings.update(overrides)
    return onethinker_trl.EMAGRPOTrainer(
        model=str(model_dir), processing_class=AutoProcessor.from_pretrained(model_dir),
        reward_funcs=[overall_reward, distinct_chars], args=onethinker_trl.EMAGRPOConfig(**settings),
        train_dataset=dataset)


def _record_batches(trainer):
    """Spy on the real TRL calls: each batch's rows, TRL's gathered rewards and the advantages it trains on."""
    batches = []
    calculate, generate = trainer._calculate_rewards, trainer._generate_and_score_completions

    def calculate_spy(inputs, *args):
        rewards = calculate(inputs, *args)
        batches.append({"rows": [dict(row) for row in inputs], "rewards": rewards.clone()})
        return rewards

    def generate_spy(inputs):
        output = generate(inputs)
        batches[-1]["advantages"] = output["advantages"].clone()
        return output

    trainer._calculate_rewards, trainer._generate_and_score_completions = calculate_spy, generate_spy
    return batches


@needs_trl
def test_trainer_advantages_are_ema_grpo_over_the_rewards(tiny, image_rows, tmp_path):
    trainer = _trainer(tiny, image_rows, tmp_path / "run", save_strategy="no")
    batches = _record_batches(trainer)
    trainer.train()
    assert len(batches) == 3  # one generation batch per step

    tracker = EMATracker()
    differs_from_trl = False
    for batch in batches:
        scores = batch["rewards"] @ torch.tensor(WEIGHTS)
        groups = [row["problem_id"] for row in batch["rows"]]  # a group is one prompt's rollouts
        keys = [task_key(row["problem_type"], row["data_type"]) for row in batch["rows"]]
        expected = ema_grpo_advantages(scores, groups, keys, tracker)
        torch.testing.assert_close(batch["advantages"], expected, rtol=0, atol=1e-6)
        # TRL's own GRPO scaling (group std) would have trained on something else.
        by_group = scores.view(-1, 2)
        trl_default = ((by_group - by_group.mean(1, keepdim=True)) / (by_group.std(1, keepdim=True) + 1e-4)).flatten()
        differs_from_trl |= not torch.allclose(trl_default, expected, atol=1e-3)
        assert batch["rewards"][:, 1].std() > 0  # the batch has signal, so the comparison is not 0 == 0
    assert differs_from_trl
    assert tracker.state_dict() == trainer.ema_tracker.state_dict()
    assert trainer.ema_tracker.keys() == ["multiple choice", "numerical"]

    # The completions table TRL logs shows the advantages trained on, not TRL's own.
    assert list(trainer._logs["advantages"])[-4:] == batches[-1]["advantages"].tolist()
    before = trainer.ema_tracker.state_dict()
    metrics = trainer.evaluate(image_rows)  # evaluation scores its rollouts with a copy of the tracker
    assert "eval_loss" in metrics and len(batches) == 4  # one eval batch: 4 prompts x 2 rollouts
    assert trainer.ema_tracker.state_dict() == before
    batch = batches[-1]
    copy = EMATracker()
    copy.load_state_dict(before)
    expected = ema_grpo_advantages(batch["rewards"] @ torch.tensor(WEIGHTS), [r["problem_id"] for r in batch["rows"]],
                                   [task_key(r["problem_type"], r["data_type"]) for r in batch["rows"]], copy)
    torch.testing.assert_close(batch["advantages"], expected, rtol=0, atol=1e-6)

    unscorable = torch.tensor([[float("nan"), float("nan")], [0.0, 1.0]])  # every reward function gave None
    with pytest.raises(ValueError, match="rollout 0 .*needs a reward for every rollout"):
        trainer.ema_grpo_advantages(unscorable, ["numerical", "numerical"], "train")
    assert trainer.ema_tracker.state_dict() == before


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_trl
def test_two_ranks_normalise_over_the_gathered_batch_and_agree(tiny, corpus_files, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("trl_two_ranks.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), str(script), str(tiny), str(tmp_path), *map(str, corpus_files)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["state"] == ranks[1]["state"]  # every rank holds the same statistics

    tracker = EMATracker()
    for step, (mine, theirs) in enumerate(zip(ranks[0]["batches"], ranks[1]["batches"], strict=True)):
        assert mine["rewards"] == theirs["rewards"]  # TRL gathered the same global batch on both ranks
        rows = mine["rows"] + theirs["rows"]  # rank order = the order of the gathered rewards
        assert len(rows) == 6
        groups = [row["problem_id"] for row in rows]
        assert groups[2] == groups[3], "the middle group spans the two ranks"
        scores = torch.tensor(mine["rewards"]) @ torch.tensor(WEIGHTS)
        keys = [task_key(row["problem_type"], row["data_type"]) for row in rows]
        expected = ema_grpo_advantages(scores, groups, keys, tracker)
        got = torch.tensor(mine["advantages"] + theirs["advantages"])
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6, msg=f"step {step}")
    assert ranks[0]["state"] == tracker.state_dict()


@needs_trl
def test_tracker_saved_in_every_checkpoint_and_restored_on_resume(tiny, image_rows, tmp_path):
    # Two steps stay inside the first epoch: TRL's RepeatSampler reshuffles each later epoch from a generator
    # that a resume does not restore, so only in-epoch resumes replay the same prompts.
    first = _trainer(tiny, image_rows, tmp_path / "run", max_steps=2)
    first.train()
    saved = {step: json.loads((tmp_path / "run" / f"checkpoint-{step}" / EMA_STATE_NAME).read_text())
             for step in (1, 2)}
    assert saved[2] == first.ema_tracker.state_dict()
    assert saved[1] != saved[2]  # each checkpoint holds the state of its own step
    assert {k: v["updates"] for k, v in saved[2]["tasks"].items()} == {"multiple choice": 2, "numerical": 2}

    resumed = _trainer(tiny, image_rows, tmp_path / "resumed", max_steps=2)
    restored = []
    generate = resumed._generate_and_score_completions

    def generate_spy(inputs):  # the state the first batch after the resume starts from
        restored.append(resumed.ema_tracker.state_dict())
        return generate(inputs)

    resumed._generate_and_score_completions = generate_spy
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-1"))
    assert restored == [saved[1]]  # exactly: every float and update count, before the one step left
    assert resumed.ema_tracker.state_dict() == saved[2]  # step 2 replayed from the restored state


@needs_trl
def test_resume_from_a_checkpoint_without_ema_state_is_an_error(tiny, image_rows, tmp_path):
    first = _trainer(tiny, image_rows, tmp_path / "run", max_steps=1)
    first.train()
    (tmp_path / "run" / "checkpoint-1" / EMA_STATE_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=EMA_STATE_NAME):
        _trainer(tiny, image_rows, tmp_path / "again").train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-1"))


@needs_trl
def test_video_rows_are_refused_with_their_location(tiny, image_rows, tmp_path):
    import datasets

    video = {"prompt": image_rows[0]["prompt"], "images": [], "answer": '{"time": [1.0, 2.0]}',
             "problem_type": "temporal grounding", "data_type": "video", "problem_id": "v"}
    mixed = datasets.concatenate_datasets([image_rows, datasets.Dataset.from_list([video]).cast(image_rows.features)])
    with pytest.raises(ValueError, match=r"train_dataset row 4 is a video row.*images only"):
        _trainer(tiny, mixed, tmp_path / "run")
    # A streamed dataset cannot be checked up front: the batch is refused before anything is generated.
    streamed = _trainer(tiny, mixed.select([4, 4]).to_iterable_dataset(), tmp_path / "stream", max_steps=1,
                        per_device_train_batch_size=2, save_strategy="no")
    with pytest.raises(ValueError, match=r"batch row \d \(step 0\) is a video row.*images only"):
        streamed.train()

    corpus = tmp_path / "video.jsonl"
    corpus.write_text(json.dumps({"problem": "When?", "problem_type": "temporal grounding", "data_type": "video",
                                  "answer": '{"time": [1, 2]}', "videos": ["clip.mp4"]}) + "\n")
    with pytest.raises(RecordError, match=r"video\.jsonl:1: videos: .*images only"):
        trl_rows(corpus)


@needs_trl
def test_trl_rows_carry_the_published_prompt_and_absolute_images(corpus_files, image_rows):
    from onethinker.data.records import read_records
    from onethinker.tasks import prompt_text

    rows = trl_rows(corpus_files[0])
    (_, record), *_ = read_records(corpus_files[0])
    content = rows[0]["prompt"][0]["content"]
    published = prompt_text(record.problem, record.key, record.options)
    assert published.startswith("<image>")  # the image part stands where the placeholder stood
    assert content == [{"type": "image"}, {"type": "text", "text": published.removeprefix("<image>")}]
    assert rows[0]["images"] == [str(corpus_files[0].parent / record.images[0])]
    assert rows[0]["answer"] == record.ground_truth
    assert image_rows[0]["images"][0].size == tuple(record.resolution)  # decoded to a PIL image when read


def test_without_trl_the_rewards_import_and_the_trainer_says_what_to_install():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['trl'] = None\n"  # as if TRL were not installed
        "from onethinker.integrations.trl import overall_reward\n"
        "try:\n"
        "    from onethinker.integrations.trl import EMAGRPOTrainer\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pip install 'onethinker[trl]'" in done.stdout
