"""The veRL plugin against real veRL 0.9.1: its registry, both trainers' advantage and checkpoint code, its
reward loading. Only what needs GPUs or a cluster is replaced: the actor worker group (a transport that
writes a folder) and the TransferQueue (an in-memory store with its get/put shape)."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
# The real engine: .ci/run installs it (the `verl` extra, then verl itself without its transformers cap).
verl = pytest.importorskip("verl", reason="veRL is not installed: pip install -e '.[verl]' && "
                           "pip install --no-deps verl==0.9.1 (as .ci/run does)")
from omegaconf import OmegaConf  # noqa: E402 - veRL's config library, present once veRL is

from onethinker.integrations import verl as plugin
from onethinker.rl import EMATracker, ema_grpo_advantages
from onethinker.tasks import task_key

CONFIG_DIR = Path(verl.__file__).parent / "trainer" / "config"
MATH = {"problem_type": "math", "data_type": "image"}
TRACKING = {"problem_type": "tracking", "data_type": "video"}


def _config(tmp: Path, **trainer) -> OmegaConf:
    """veRL's own full PPO config (the generated default), with the keys a test sets."""
    cfg = OmegaConf.load(CONFIG_DIR / "_generated_ppo_trainer.yaml")
    OmegaConf.update(cfg, "algorithm.adv_estimator", "ema_grpo")
    OmegaConf.update(cfg, "actor_rollout_ref.rollout.n", 2)
    OmegaConf.update(cfg, "trainer.default_local_dir", str(tmp))
    for key, value in trainer.items():
        OmegaConf.update(cfg, f"trainer.{key}", value)
    return cfg


@pytest.fixture(autouse=True)
def fresh_tracker():
    plugin.TRACKER.load_state_dict(EMATracker().state_dict())
    yield
    plugin.TRACKER.load_state_dict(EMATracker().state_dict())


def _expected(batches):
    """onethinker.rl over the same batches in order, with its own tracker: what veRL must produce."""
    tracker, out = EMATracker(), []
    for scores, uids, infos in batches:
        keys = [task_key(i["problem_type"], i["data_type"]) for i in infos]
        out.append(ema_grpo_advantages(torch.tensor(scores), uids, keys, tracker))
    return out, tracker


BATCHES = [
    ([1.0, 0.0, 0.7, 0.6, 0.2, 0.9], ["a", "a", "b", "b", "c", "c"], [MATH, MATH, TRACKING, TRACKING, MATH, MATH]),
    ([0.4, 0.1, 0.8, 0.5, 0.0, 1.0], ["d", "d", "e", "e", "f", "f"], [TRACKING, TRACKING, MATH, MATH, MATH, MATH]),
]
LENGTHS = [3, 5, 2, 4, 4, 1]  # response lengths: advantages must cover exactly each response's tokens


# ---------------------------------------------------------------- install


def test_import_registers_and_hooks_both_trainers():
    from verl.trainer.ppo import core_algos, ray_trainer
    from verl.trainer.ppo.v1 import trainer_base

    assert plugin.INSTALLED and plugin.MISSING == []
    assert core_algos.get_adv_estimator_fn("ema_grpo") is plugin.ema_grpo_estimator
    assert ray_trainer.compute_advantage.__onethinker_wrapped__
    for cls in (ray_trainer.RayPPOTrainer, trainer_base.PPOTrainer):
        assert cls._save_checkpoint.__onethinker_wrapped__
    assert trainer_base.PPOTrainer._compute_advantage.__onethinker_wrapped__


def test_install_names_a_broken_part_and_keeps_the_rest(monkeypatch):
    """The failure the issue met: a veRL module raising a non-ImportError on import (a kernels mismatch)."""
    class Broken:
        def find_spec(self, name, path=None, target=None):
            if name == "verl.trainer.ppo.v1.trainer_base":
                raise ValueError("Either a revision or a version must be specified")
            return None

    monkeypatch.delitem(sys.modules, "verl.trainer.ppo.v1.trainer_base")
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.warns(UserWarning, match="verl.trainer.ppo.v1.trainer_base: ValueError: Either a revision"):
        assert plugin.install()  # the legacy trainer is still hooked
    assert len(plugin.MISSING) == 1


def test_install_without_verl_says_so_and_does_not_raise(monkeypatch):
    monkeypatch.setitem(sys.modules, "verl", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plugin.install() is False
    assert plugin.MISSING == ["verl: not installed (pip install 'onethinker[verl]', see docs/integrations.md)"]
    monkeypatch.undo()
    assert plugin.install()


# ---------------------------------------------------------------- advantages: legacy trainer


def _padded(scores, lengths):
    width = max(lengths)
    mask = torch.zeros(len(scores), width)
    rewards = torch.zeros(len(scores), width)
    for row, (score, length) in enumerate(zip(scores, lengths, strict=True)):
        mask[row, :length] = 1
        rewards[row, length - 1] = score  # veRL puts the outcome reward on the last response token
    return rewards, mask


def test_legacy_compute_advantage_dispatches_ema_grpo_equal_to_onethinker_rl():
    from verl import DataProto
    from verl.trainer.ppo import ray_trainer

    expected, tracker = _expected(BATCHES)
    for (scores, uids, infos), want in zip(BATCHES, expected, strict=True):
        rewards, mask = _padded(scores, LENGTHS)
        data = DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                                   non_tensors={"uid": np.array(uids, dtype=object),
                                                "extra_info": np.array(infos, dtype=object)})
        out = ray_trainer.compute_advantage(data, adv_estimator="ema_grpo", num_repeat=2)
        torch.testing.assert_close(out.batch["advantages"], want[:, None] * mask)
    assert plugin.TRACKER.state_dict() == tracker.state_dict()


def test_rows_without_task_are_a_clear_error():
    from verl import DataProto
    from verl.trainer.ppo import ray_trainer

    rewards, mask = _padded([1.0, 0.0], [2, 2])
    data = DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                               non_tensors={"uid": np.array(["a", "a"], dtype=object),
                                            "extra_info": np.array([MATH, {}], dtype=object)})
    with pytest.raises(ValueError, match="batch row 1: extra_info"):
        ray_trainer.compute_advantage(data, adv_estimator="ema_grpo")


# ---------------------------------------------------------------- advantages: v1 trainer (0.9.1 default)


class FakeTransferQueue:
    """The two TransferQueue calls ``PPOTrainer._compute_advantage`` makes, over an in-memory store.

    Rows go in and come out the way veRL's agent loop puts them (``list_of_dict_to_tensordict``: jagged
    tensors for per-token fields, a NonTensorStack for strings and dicts); requested fields a row lacks
    are left out, as TransferQueue does for the optional log-prob fields.
    """

    def __init__(self):
        self.rows: dict[str, dict] = {}

    def kv_batch_get(self, keys, partition_id, select_fields=None):
        from verl.utils.tensordict_utils import list_of_dict_to_tensordict

        fields = [f for f in select_fields if f in self.rows[keys[0]]]
        return list_of_dict_to_tensordict([{f: self.rows[k][f] for f in fields} for k in keys])

    def kv_batch_put(self, keys, partition_id, fields):
        from transfer_queue import KVBatchMeta

        for i, key in enumerate(keys):
            self.rows[key].update({name: fields[name][i] for name in fields.keys()})
        return KVBatchMeta(keys=list(keys), tags=[{}] * len(keys), partition_id=partition_id)


def _v1_trainer(cls, config):
    """A real v1 trainer object without its Ray worker groups (those need GPUs)."""
    trainer = cls.__new__(cls)
    trainer.config = config
    return trainer


def test_v1_compute_advantage_feeds_tasks_from_the_transfer_queue(monkeypatch, tmp_path):
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1 import trainer_base
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    fake = FakeTransferQueue()
    monkeypatch.setattr(trainer_base.tq, "kv_batch_get", fake.kv_batch_get)
    monkeypatch.setattr(trainer_base.tq, "kv_batch_put", fake.kv_batch_put)
    trainer = _v1_trainer(PPOTrainerSync, _config(tmp_path))
    expected, tracker = _expected(BATCHES)
    for step, ((scores, uids, infos), want) in enumerate(zip(BATCHES, expected, strict=True)):
        keys = []
        for row, (score, uid, info, length) in enumerate(zip(scores, uids, infos, LENGTHS, strict=True)):
            key = f"{uid}_{row % 2}_0"  # {uid}_{session}_{output}, as the agent loop names rows
            rm = torch.zeros(length)
            rm[-1] = score
            fake.rows[key] = {"uid": uid, "response_mask": torch.ones(length, dtype=torch.int64), "rm_scores": rm,
                              "extra_info": dict(info, index=row)}
            keys.append(key)
        batch = KVBatchMeta(keys=keys, tags=[{}] * len(keys), partition_id="train")
        trainer._compute_advantage(batch, metrics={})
        for key, value, length in zip(keys, want, LENGTHS, strict=True):
            torch.testing.assert_close(fake.rows[key]["advantages"], torch.full((length,), float(value)))
    assert plugin.TRACKER.state_dict() == tracker.state_dict()


def test_v1_rows_without_extra_info_are_a_clear_error(monkeypatch, tmp_path):
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1 import trainer_base
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    fake = FakeTransferQueue()
    monkeypatch.setattr(trainer_base.tq, "kv_batch_get", fake.kv_batch_get)
    keys = ["a_0_0", "a_1_0"]
    for key in keys:
        fake.rows[key] = {"uid": "a", "response_mask": torch.ones(2, dtype=torch.int64), "rm_scores": torch.ones(2)}
    with pytest.raises(ValueError, match="needs each rollout's extra_info"):
        _v1_trainer(PPOTrainerSync, _config(tmp_path))._compute_advantage(
            KVBatchMeta(keys=keys, tags=[{}, {}], partition_id="train"), metrics={})


# ---------------------------------------------------------------- checkpoints through both trainers


class FakeActorWorkerGroup:
    """Transport stand-in for the FSDP actor workers: saving writes a folder, loading records the path.

    It also records whether our EMA file was already on disk when veRL started the save, i.e. before
    veRL writes ``latest_checkpointed_iteration.txt``."""

    def __init__(self):
        self.loaded, self.ema_before_save = [], []

    def save_checkpoint(self, local_path, hdfs_path=None, global_step=0, max_ckpt_to_keep=None):
        self.ema_before_save.append((Path(local_path).parent / plugin.STATE_FILE).is_file())
        Path(local_path).mkdir(parents=True)

    def load_checkpoint(self, local_path, del_local_after_load=False):
        self.loaded.append(local_path)


def _trainer(kind, config):
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    cls = RayPPOTrainer if kind == "legacy" else PPOTrainerSync
    trainer = cls.__new__(cls)  # the real class, without the Ray worker groups its __init__/init() start
    trainer.config, trainer.use_critic, trainer.trainer_mode = config, False, "sync"
    trainer.actor_rollout_wg = FakeActorWorkerGroup()
    trainer.train_dataloader = StatefulDataLoader(list(range(8)), batch_size=2)
    if kind == "v1":
        from verl.trainer.ppo.checkpoint_callback import build_checkpoint_callback

        trainer.checkpoint_callback = build_checkpoint_callback(config)
    return trainer


def _train_tracker(values):
    plugin.TRACKER.update(torch.tensor(values), ["math"] * len(values))
    return plugin.TRACKER.state_dict()


@pytest.mark.parametrize("kind", ["legacy", "v1"])
def test_tracker_saved_before_checkpoint_is_marked_and_restored_on_auto_resume(kind, tmp_path):
    run = tmp_path / "run"
    trainer = _trainer(kind, _config(run))
    first = _train_tracker([0.2, 0.9])
    trainer.global_steps = 2
    trainer._save_checkpoint()
    second = _train_tracker([0.0, 0.1, 1.0])
    trainer.global_steps = 4
    trainer._save_checkpoint()
    assert trainer.actor_rollout_wg.ema_before_save == [True, True]
    assert (run / "latest_checkpointed_iteration.txt").read_text() == "4"
    assert first != second

    plugin.TRACKER.load_state_dict(EMATracker().state_dict())
    resumed = _trainer(kind, _config(run, resume_mode="auto"))
    resumed._load_checkpoint()
    assert resumed.global_steps == 4
    assert plugin.TRACKER.state_dict() == second


@pytest.mark.parametrize("kind", ["legacy", "v1"])
def test_resume_path_outside_the_run_folder_restores_that_checkpoint(kind, tmp_path):
    run = tmp_path / "run"
    trainer = _trainer(kind, _config(run))
    saved = _train_tracker([0.3, 0.8])
    trainer.global_steps = 2
    trainer._save_checkpoint()
    moved = shutil.copytree(run / "global_step_2", tmp_path / "elsewhere" / "global_step_2")
    _train_tracker([1.0, 1.0])
    trainer.global_steps = 3
    trainer._save_checkpoint()  # the run's latest is step 3; resume_path must still pick step 2

    plugin.TRACKER.load_state_dict(EMATracker().state_dict())
    resumed = _trainer(kind, _config(tmp_path / "fresh", resume_mode="resume_path", resume_from_path=str(moved)))
    resumed._load_checkpoint()
    assert resumed.actor_rollout_wg.loaded == [str(moved / "actor")]
    assert plugin.TRACKER.state_dict() == saved


def test_resuming_a_checkpoint_without_ema_state_warns(tmp_path):
    run = tmp_path / "run"
    (run / "global_step_1" / "actor").mkdir(parents=True)
    (run / "latest_checkpointed_iteration.txt").write_text("1")
    with pytest.warns(UserWarning, match="EMA-GRPO statistics start fresh"):
        _trainer("v1", _config(run, resume_mode="auto"))._load_checkpoint()


# ---------------------------------------------------------------- reward through veRL's reward loop


@pytest.fixture(scope="module")
def exported_rows(tmp_path_factory):
    """Our synthetic corpus exported to veRL parquet, and a tiny tokenizer for veRL to decode responses."""
    import pyarrow.parquet as pq

    from onethinker.data.export import export_verl
    from onethinker.data.synth import synthesize
    from onethinker.models.tiny import build_tokenizer

    root = tmp_path_factory.mktemp("verl_reward")
    corpus = synthesize(root / "synth", 12, seed=0) / "data.jsonl"
    export_verl(corpus, root / "train.parquet")
    build_tokenizer().save_pretrained(root / "tok")
    return pq.read_table(root / "train.parquet").to_pylist(), root / "tok"


def _reward_worker(tok_dir, *overrides):
    """veRL's real RewardLoopWorker, built from its default config plus command-line style overrides."""
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    cfg = OmegaConf.merge(_config(Path("unused")), OmegaConf.from_dotlist(
        [*overrides, f"actor_rollout_ref.model.path={tok_dir}"]))
    cls = getattr(RewardLoopWorker, "__ray_actor_class__", RewardLoopWorker)
    return cls(cfg)


def _score(worker, tokenizer, row, response):
    """One rollout through the worker, shaped as the agent loop hands it over (prompt + padded response)."""
    from verl import DataProto

    seq = tokenizer(response, add_special_tokens=False)["input_ids"]
    prompt_len, width = 4, len(seq) + 3
    responses = torch.full((1, width), tokenizer.pad_token_id or 0)
    responses[0, :len(seq)] = torch.tensor(seq)
    attention = torch.zeros(1, prompt_len + width, dtype=torch.int64)
    attention[0, :prompt_len + len(seq)] = 1
    data = DataProto.from_dict(
        tensors={"responses": responses, "attention_mask": attention},
        non_tensors={"data_source": np.array([row["data_source"]], dtype=object),
                     "reward_model": np.array([row["reward_model"]], dtype=object),
                     "extra_info": np.array([dict(row["extra_info"])], dtype=object)})
    return worker.loop.run_until_complete(worker.compute_score(data))


DOCUMENTED = ("reward.custom_reward_function.path=pkg://onethinker.integrations.verl",
              "reward.custom_reward_function.name=compute_score")


def test_reward_loop_with_documented_overrides_scores_exported_rows_like_score_batch(exported_rows):
    from transformers import AutoTokenizer

    from onethinker.rewards import score_batch

    rows, tok_dir = exported_rows
    worker = _reward_worker(tok_dir, *DOCUMENTED)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    # Per row: the right answer, a wrong one, or no tags at all.
    responses = [[f"<think>look</think><answer>{row['reward_model']['ground_truth']}</answer>",
                  "<think>hm</think><answer>7</answer>", "no tags"][i % 3] for i, row in enumerate(rows)]
    got = [_score(worker, tokenizer, row, r) for row, r in zip(rows, responses, strict=True)]
    want = score_batch([{"response": r, "ground_truth": row["reward_model"]["ground_truth"],
                         "problem_type": row["extra_info"]["problem_type"],
                         "data_type": row["extra_info"]["data_type"]} for r, row in zip(responses, rows, strict=True)])
    assert [g["reward_score"] for g in got] == pytest.approx([w["overall"] for w in want])
    assert [g["reward_extra_info"]["accuracy"] for g in got] == pytest.approx([w["accuracy"] for w in want])
    assert {row["extra_info"]["data_type"] for row in rows} == {"image", "video"}
    assert max(w["overall"] for w in want) > 1.0 and min(w["overall"] for w in want) == 0.0


def test_the_old_top_level_override_is_ignored_by_verl(exported_rows):
    """What docs used to say (`custom_reward_function.path=...` without `reward.`): veRL 0.9.1 falls back to
    its own rule rewards, which know no OneThinker data source."""
    from transformers import AutoTokenizer

    rows, tok_dir = exported_rows
    worker = _reward_worker(tok_dir, "custom_reward_function.path=pkg://onethinker.integrations.verl",
                            "custom_reward_function.name=compute_score")
    with pytest.raises(NotImplementedError):
        _score(worker, AutoTokenizer.from_pretrained(tok_dir), rows[0], "<think>a</think><answer>1</answer>")


# ---------------------------------------------------------------- the published recipe, as veRL composes it


def test_example_launch_script_composes_the_published_recipe(tmp_path):
    """examples/verl/run_qwen3vl_8b.sh through veRL's own Hydra entry point (`--cfg job` stops before Ray),
    then veRL's config validation, which a real launch runs first."""
    import os
    import subprocess

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    script = Path(__file__).parents[2] / "examples" / "verl" / "run_qwen3vl_8b.sh"
    env = dict(os.environ, MODEL="/ckpt/onethinker-sft-8b", DATA=str(tmp_path / "train.parquet"), NNODES="4",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    out = subprocess.run(["bash", str(script), "trainer.save_freq=5",
                          "actor_rollout_ref.rollout.gpu_memory_utilization=0.5", "--cfg", "job"], env=env, text=True,
                         capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = OmegaConf.create(out.stdout)
    assert not need_reference_policy(cfg) and not need_critic(cfg)  # no KL: no reference model
    validate_config(cfg, use_reference_policy=False, use_critic=False)
    ar = cfg.actor_rollout_ref
    published = (cfg.data.train_batch_size, ar.rollout.n, ar.actor.ppo_mini_batch_size, ar.actor.optim.lr,
                 cfg.data.max_response_length, ar.rollout.tensor_model_parallel_size, ar.rollout.temperature,
                 cfg.trainer.nnodes * cfg.trainer.n_gpus_per_node, ar.actor.use_kl_loss, cfg.algorithm.use_kl_in_reward)
    assert published == (128, 8, 32, 2e-6, 4096, 4, 1.0, 32, False, False)
    assert (cfg.algorithm.adv_estimator, cfg.algorithm.filter_groups.metric) == ("ema_grpo", "accuracy")
    assert cfg.reward.custom_reward_function.path == "pkg://onethinker.integrations.verl"
    assert ar.rollout.gpu_memory_utilization == 0.5
    assert cfg.trainer.use_v1 and cfg.trainer.save_freq == 5 and cfg.data.train_files == env["DATA"]
    assert cfg.ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES == "onethinker.integrations.verl"
