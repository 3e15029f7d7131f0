"""Configs: YAML + key=value overrides, typed, with errors that say where the bad value came from."""

from __future__ import annotations

import pytest

from onethinker.train.config import ConfigError, RLConfig, SFTConfig, load_config

RECIPE = """\
model:
  path: /models/tiny
data:
  train_file: data/train.jsonl
rollout:
  n: 4
  temperature: 0.7
optim:
  lr: 1e-6
"""


def _write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_yaml_values_and_overrides_land_in_typed_fields(tmp_path):
    cfg = load_config(RLConfig, _write(tmp_path, RECIPE), ["rollout.n=8", "trainer.resume=true",
                                                           "optim.betas=[0.9, 0.95]", "algorithm.dual_clip=null"])
    assert cfg.rollout.n == 8 and cfg.rollout.temperature == 0.7
    assert cfg.optim.lr == 1e-6  # YAML 1.1 reads 1e-6 as a string; it is coerced to a float
    assert cfg.trainer.resume is True and cfg.optim.betas == [0.9, 0.95] and cfg.algorithm.dual_clip is None
    # Untouched fields keep the published defaults.
    assert cfg.algorithm.advantage == "ema_grpo" and cfg.algorithm.kl_coef == 1e-2
    assert cfg.rollout.filter_low == 0.01 and cfg.rollout.filter_high == 0.99


def test_unknown_key_names_file_line_and_suggests(tmp_path):
    path = _write(tmp_path, RECIPE + "trainer:\n  save_evry: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(RLConfig, path)
    assert str(err.value) == f"{path}:11: unknown key 'trainer.save_evry' (did you mean 'trainer.save_every'?)"


def test_wrong_type_names_file_line_and_field(tmp_path):
    path = _write(tmp_path, RECIPE.replace("n: 4", "n: four"))
    with pytest.raises(ConfigError, match=r"recipe.yaml:6: rollout.n: expected an integer, got 'four'"):
        load_config(RLConfig, path)


def test_bad_override_names_the_override(tmp_path):
    with pytest.raises(ConfigError, match=r"override 'algorithm.advantage=ppo': algorithm.advantage: must be one of"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["algorithm.advantage=ppo"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["rollout.n"])


def test_cross_field_checks_report_every_problem(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(RLConfig, _write(tmp_path, RECIPE), ["rollout.n=1", "rollout.filter_low=0.9",
                                                         "rollout.filter_high=0.5"])
    message = str(err.value)
    assert "override 'rollout.n=1': rollout.n: group-relative advantages need n >= 2, got 1" in message
    assert "filter_low < filter_high" in message


def test_missing_required_fields_and_unknown_task(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(SFTConfig, None, ["data.tasks=[counting]"])
    message = str(err.value)
    assert "model.path: is required" in message and "data.train_file: is required" in message
    assert "unknown task 'counting'" in message


def test_refill_by_task_needs_the_task_balanced_sampler(tmp_path):
    assert load_config(RLConfig, _write(tmp_path, RECIPE)).rollout.refill == "stream"  # published
    assert load_config(RLConfig, _write(tmp_path, RECIPE), ["rollout.refill=task"]).rollout.refill == "task"
    with pytest.raises(ConfigError, match=r"rollout.refill: `task` refills .* needs data.balance_tasks=true"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["rollout.refill=task", "data.balance_tasks=false"])
    with pytest.raises(ConfigError, match=r"rollout.refill: must be one of"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["rollout.refill=random"])


def test_invalid_yaml_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match=r"recipe.yaml:\d+: not valid YAML"):
        load_config(RLConfig, _write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        load_config(RLConfig, _write(tmp_path, "- a\n- b\n"))


def test_rl_refuses_an_eval_file_it_would_not_read(tmp_path):
    with pytest.raises(ConfigError, match=r"data.eval_file: is SFT only; RL does not read it .*onethinker eval run"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["data.eval_file=data/test.jsonl"])
    assert load_config(SFTConfig, _write(tmp_path, RECIPE.split("rollout:")[0]),
                       ["data.eval_file=data/test.jsonl"]).data.eval_file == "data/test.jsonl"


def test_optimizer_name_and_momentum_are_checked(tmp_path):
    cfg = load_config(RLConfig, _write(tmp_path, RECIPE), ["optim.name=sgd", "optim.momentum=0.9"])
    assert (cfg.optim.name, cfg.optim.momentum) == ("sgd", 0.9)
    assert load_config(RLConfig, _write(tmp_path, RECIPE)).optim.name == "adamw"  # published default
    with pytest.raises(ConfigError, match=r"optim.name: must be one of"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["optim.name=lion"])
    with pytest.raises(ConfigError, match=r"optim.momentum: must lie in \[0, 1\), got 1.0"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["optim.name=sgd", "optim.momentum=1.0"])
    # AdamW would ignore it: refused rather than dropped
    with pytest.raises(ConfigError, match=r"optim.momentum: only SGD uses it \(optim.name is 'adamw'\)"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["optim.momentum=0.9"])


def test_train_only_is_a_list_of_regular_expressions_without_lora(tmp_path):
    cfg = load_config(SFTConfig, _write(tmp_path, RECIPE.split("rollout:")[0]),
                      [r"model.train_only=['layers\.0\.', 'merger']"])
    assert cfg.model.train_only == [r"layers\.0\.", "merger"]
    assert load_config(RLConfig, _write(tmp_path, RECIPE)).model.train_only is None
    with pytest.raises(ConfigError, match=r"model.train_only: 'layers\[0' is not a regular expression"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["model.train_only=['layers[0']"])
    with pytest.raises(ConfigError, match=r"model.train_only: cannot be set with model.lora"):
        load_config(RLConfig, _write(tmp_path, RECIPE), ["model.train_only=[merger]", "model.lora=true"])
