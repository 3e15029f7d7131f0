#!/usr/bin/env bash
# OneThinker RL, the published Qwen3-VL-8B recipe, on veRL 0.9.1 (config: onethinker_qwen3vl_8b.yaml).
#
#   MODEL=/ckpt/onethinker-sft-8b DATA=train.parquet NNODES=4 bash examples/verl/run_qwen3vl_8b.sh [key=value ...]
#
# DATA: a parquet from `onethinker data export FILE --to verl -o train.parquet`, or an RL corpus (.json/.jsonl),
#       which is exported beside itself first. Extra key=value arguments are veRL (Hydra) overrides.
# One node: NNODES=1. Several: `ray start --head` on the first node, `ray start --address=HEAD_IP:6379` on
# the others, then run this script on the first node; veRL joins the running cluster.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${MODEL:?set MODEL to the SFT checkpoint (or a Qwen3-VL-8B-Instruct path)}"
: "${DATA:?set DATA to a veRL parquet or an RL corpus .json/.jsonl}"
case "$DATA" in
  *.json|*.jsonl)
    parquet="${DATA%.*}.parquet"
    onethinker data export "$DATA" --to verl -o "$parquet"
    DATA="$parquet" ;;
esac
# The driver imports the plugin too (Ray workers get it from the config's runtime_env).
export VERL_USE_EXTERNAL_MODULES=onethinker.integrations.verl
exec python3 -m verl.trainer.main_ppo --config-path "$here" --config-name onethinker_qwen3vl_8b \
  data.train_files="$DATA" \
  actor_rollout_ref.model.path="$MODEL" \
  trainer.nnodes="${NNODES:-4}" \
  trainer.default_local_dir="${OUT:-checkpoints/onethinker/qwen3vl_8b_rl}" \
  "$@"
