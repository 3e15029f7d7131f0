"""Forward passes over ``[prompt | response]`` batches: token log-probabilities, entropies, SFT loss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Keys of a training batch that the model's forward accepts (the rest is bookkeeping).
MODEL_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw",
              "pixel_values_videos", "video_grid_thw")


def model_inputs(batch: Mapping, device) -> dict:
    """The model-forward subset of a batch, on ``device``."""
    return {k: batch[k].to(device) for k in MODEL_KEYS if k in batch}


def model_device(model):
    """Where a model's weights live (also for DDP-wrapped models, which have no ``.device``)."""
    return next(model.parameters()).device


def response_logits(model, batch: Mapping):
    """Logits predicting each response token, ``[B, R, V]`` (float32)."""
    rlen = batch["response_mask"].shape[1]
    # Only the last R+1 positions are needed: position t predicts token t+1.
    out = model(**model_inputs(batch, model_device(model)), use_cache=False, logits_to_keep=rlen + 1)
    return out.logits[:, :-1, :].float()


def token_logprobs(model, batch: Mapping, *, temperature: float = 1.0, with_entropy: bool = False,
                   suppress_tokens: Sequence[int] | None = None):
    """Log-probabilities of the response tokens under ``model``'s sampling distribution.

    That distribution is the one ``generate`` samples from: logits divided by the temperature, with the
    ``suppress_tokens`` of the generation config banned (their logits set to -inf before the softmax, as
    transformers' ``SuppressTokensLogitsProcessor`` does), so re-forwarded log-probs and entropies match
    the rollouts' own.

    Returns ``(logprobs [B, R], entropy [B, R] or None)``; positions outside ``response_mask`` hold junk
    (finite).
    """
    import torch

    logits = response_logits(model, batch)
    banned = None
    if suppress_tokens:
        ids = sorted({int(t) for t in suppress_tokens if 0 <= int(t) < logits.shape[-1]})
        if ids:
            banned = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            banned[ids] = True
            logits = logits.masked_fill(banned, float("-inf"))
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    targets = batch["input_ids"][:, -batch["response_mask"].shape[1]:].to(logits.device)
    logp_all = torch.log_softmax(logits, dim=-1)
    logprobs = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if banned is not None:  # padding after a response may be a banned token (-inf): keep the junk finite
        inside = batch["response_mask"].to(logits.device).bool()
        logprobs = torch.where(inside, logprobs, torch.zeros_like(logprobs))
    entropy = None
    if with_entropy:
        # Banned tokens have probability 0 and contribute 0 (not 0 * -inf) to the entropy.
        finite = logp_all if banned is None else logp_all.masked_fill(banned, 0.0)
        entropy = -(logp_all.exp() * finite).sum(-1)
    return logprobs, entropy


def sft_loss(model, batch: Mapping):
    """Mean cross-entropy over response tokens (reasoning + answer + end-of-turn); returns ``(loss, n_tokens)``."""
    import torch

    logits = response_logits(model, batch)
    mask = batch["response_mask"].to(logits.device).bool()
    targets = batch["input_ids"][:, -mask.shape[1]:].to(logits.device)
    n_tokens = int(mask.sum())
    if n_tokens == 0:
        return logits.sum() * 0.0, 0
    loss = torch.nn.functional.cross_entropy(logits[mask], targets[mask], reduction="mean")
    return loss, n_tokens
