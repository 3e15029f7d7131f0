"""The veRL plugin against a stand-in of veRL's registry / trainer API (veRL itself is not installed here)."""

from __future__ import annotations

import importlib
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from onethinker.rl import EMATracker, ema_grpo_advantages


def _fake_verl(tmp_path):
    """Modules shaped like veRL's core_algos / ray_trainer: the registry and the advantage call site."""
    core_algos = types.ModuleType("verl.trainer.ppo.core_algos")
    core_algos.ADV_ESTIMATOR_REGISTRY = {}

    def register_adv_est(name):
        def decorator(fn):
            core_algos.ADV_ESTIMATOR_REGISTRY[name] = fn
            return fn
        return decorator

    core_algos.register_adv_est = register_adv_est
    ray_trainer = types.ModuleType("verl.trainer.ppo.ray_trainer")

    def compute_advantage(data, adv_estimator, config=None):
        fn = core_algos.ADV_ESTIMATOR_REGISTRY[adv_estimator]
        adv, ret = fn(token_level_rewards=data.batch["token_level_rewards"], response_mask=data.batch["response_mask"],
                      config=config, index=data.non_tensor_batch["uid"])
        data.batch["advantages"] = adv
        return data

    class RayPPOTrainer:
        def __init__(self, folder):
            self.config = SimpleNamespace(trainer=SimpleNamespace(default_local_dir=str(folder)))
            self.global_steps = 0

        def _save_checkpoint(self):
            (tmp_path / f"global_step_{self.global_steps}").mkdir(exist_ok=True)

        def _load_checkpoint(self):
            self.global_steps = 3

    ray_trainer.compute_advantage = compute_advantage
    ray_trainer.RayPPOTrainer = RayPPOTrainer
    ppo = types.ModuleType("verl.trainer.ppo")
    ppo.core_algos, ppo.ray_trainer = core_algos, ray_trainer
    modules = {"verl": types.ModuleType("verl"), "verl.trainer": types.ModuleType("verl.trainer"),
               "verl.trainer.ppo": ppo, "verl.trainer.ppo.core_algos": core_algos,
               "verl.trainer.ppo.ray_trainer": ray_trainer}
    return modules


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    for name, module in _fake_verl(tmp_path).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "onethinker.integrations.verl", raising=False)
    module = importlib.import_module("onethinker.integrations.verl")
    yield module
    sys.modules.pop("onethinker.integrations.verl", None)


def _batch(scores, uids, infos, length=3):
    rewards = torch.zeros(len(scores), length)
    rewards[:, -1] = torch.tensor(scores)
    mask = torch.ones(len(scores), length)
    mask[0, -1] = 0  # a shorter first response: its padding must get no advantage
    return SimpleNamespace(batch={"token_level_rewards": rewards, "response_mask": mask},
                           non_tensor_batch={"uid": np.array(uids, dtype=object), "extra_info": infos})


def test_install_registers_estimator_and_feeds_task_keys(plugin):
    from verl.trainer.ppo import core_algos, ray_trainer

    assert plugin.INSTALLED
    assert core_algos.ADV_ESTIMATOR_REGISTRY["ema_grpo"] is plugin.ema_grpo_estimator
    scores = [1.0, 0.0, 0.7, 0.6]
    infos = [{"problem_type": "math", "data_type": "image"}] * 2 + [{"problem_type": "tracking", "data_type": "video"}] * 2
    data = ray_trainer.compute_advantage(_batch(scores, ["a", "a", "b", "b"], infos), "ema_grpo")

    expected = ema_grpo_advantages(torch.tensor(scores), ["a", "a", "b", "b"], ["math", "math", "tracking", "tracking"],
                                   EMATracker())
    adv = data.batch["advantages"]
    torch.testing.assert_close(adv[:, 0], expected)
    assert adv[0, -1] == 0  # masked token
    assert set(plugin.TRACKER.keys()) == {"math", "tracking"}


def test_rows_without_task_are_a_clear_error(plugin):
    from verl.trainer.ppo import ray_trainer

    with pytest.raises(ValueError, match="batch row 1: extra_info"):
        ray_trainer.compute_advantage(_batch([1.0, 0.0], ["a", "a"], [{"problem_type": "math", "data_type": "image"}, {}]),
                                      "ema_grpo")


def test_estimator_outside_the_hook_says_how_to_install(plugin):
    with pytest.raises(RuntimeError, match="VERL_USE_EXTERNAL_MODULES"):
        plugin.ema_grpo_estimator(torch.ones(2, 1), torch.ones(2, 1), index=["a", "a"])


def test_tracker_state_rides_on_checkpoints(plugin, tmp_path):
    from verl.trainer.ppo import ray_trainer

    plugin.TRACKER.update(torch.tensor([0.2, 0.9]), ["math", "math"])
    saved_std = plugin.TRACKER.std("math")
    trainer = ray_trainer.RayPPOTrainer(tmp_path)
    trainer.global_steps = 3
    trainer._save_checkpoint()
    assert (tmp_path / "global_step_3" / plugin.STATE_FILE).is_file()

    plugin.TRACKER.load_state_dict(EMATracker().state_dict())
    assert "math" not in plugin.TRACKER.keys()
    ray_trainer.RayPPOTrainer(tmp_path)._load_checkpoint()
    assert plugin.TRACKER.std("math") == pytest.approx(saved_std)


def test_reward_functions_read_task_from_extra_info(plugin):
    info = {"problem_type": "spatial grounding", "data_type": "image"}
    single = plugin.compute_score("src", '<think>t</think><answer>{"boxes": [0, 0, 10, 10]}</answer>',
                                  '{"boxes": [0, 0, 10, 20]}', info)
    assert single == {"score": pytest.approx(0.9 * 0.5 + 0.1 + 0.5), "format": 1.0, "accuracy": 0.5, "structure": 0.5}
    batch = plugin.compute_score_batch(["s", "s"], ["no tags", None], ["A", "A"], [
        {"problem_type": "multiple choice", "data_type": "image"}, None])
    assert [r["score"] for r in batch][1] == 0.0
    assert all(set(r) == {"score", "format", "accuracy", "structure"} for r in batch)
