"""The RL core: advantage estimators (GRPO, Dr.GRPO, EMA-GRPO), the clipped policy loss with KL, and
online filtering. Pure tensor functions plus one stateful object, :class:`EMATracker`.

Typical step::

    from onethinker.rl import EMATracker, ema_grpo_advantages, broadcast_advantages, filter_groups, policy_loss

    tracker = EMATracker()                       # lives as long as the run; tracker.state_dict() goes in checkpoints
    keep, dropped = filter_groups(accuracy, group_ids, task_keys)
    kept = keep.nonzero().flatten().tolist()
    adv = ema_grpo_advantages(overall[kept], [group_ids[i] for i in kept], [task_keys[i] for i in kept], tracker)
    loss, metrics = policy_loss(log_prob, old_log_prob, broadcast_advantages(adv, mask), mask,
                                ref_log_prob=ref_log_prob, kl_coef=1e-2)

See ``docs/ema_grpo.md`` for the exact definitions.
"""

from onethinker.rl.advantages import (
    broadcast_advantages,
    dr_grpo_advantages,
    ema_grpo_advantages,
    grpo_advantages,
    shuffle_within_groups,
)
from onethinker.rl.ema import EMATracker
from onethinker.rl.filtering import filter_groups
from onethinker.rl.loss import (
    LOSS_AGG_MODES,
    aggregate_loss,
    entropy_from_logits,
    kl_penalty,
    masked_mean,
    policy_loss,
)

__all__ = [
    "EMATracker",
    "LOSS_AGG_MODES",
    "aggregate_loss",
    "broadcast_advantages",
    "dr_grpo_advantages",
    "ema_grpo_advantages",
    "entropy_from_logits",
    "filter_groups",
    "grpo_advantages",
    "kl_penalty",
    "masked_mean",
    "policy_loss",
    "shuffle_within_groups",
]
