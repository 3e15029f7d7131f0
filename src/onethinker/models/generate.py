"""Batched Hugging Face generation over corpus records (evaluation, prediction and RL rollouts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from onethinker.models.encode import MediaCache, MediaSettings, collate_prompts, prepare_prompt


def generation_config(
    model,
    processor,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    suppress_tokens: Sequence[int] | None = None,
):
    """An explicit ``GenerationConfig``: greedy when ``temperature <= 0``, else plain sampling (no top-k, no
    repetition penalty, so rollout probabilities are the policy's own). Vision/pad/chat-start tokens are
    suppressed (see :func:`onethinker.models.suppressed_token_ids`)."""
    from transformers import GenerationConfig

    from onethinker.models.loading import _eos_ids, suppressed_token_ids

    tokenizer = processor.tokenizer
    eos = sorted(_eos_ids(tokenizer, model))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    banned = list(suppressed_token_ids(processor, model) if suppress_tokens is None else suppress_tokens)
    sample = temperature > 0
    if not sample and num_return_sequences > 1:
        raise ValueError("greedy decoding (temperature 0) gives one response per prompt; sample for several")
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=sample, num_return_sequences=num_return_sequences,
                  eos_token_id=eos if len(eos) > 1 else eos[0], pad_token_id=pad, bos_token_id=None,
                  suppress_tokens=banned or None, use_cache=True, top_k=None, top_p=None, temperature=None)
    if sample:
        kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
    return GenerationConfig(**kwargs)


def generate_ids(model, processor, batch: dict, config) -> list[list[int]]:
    """Generate for a collated prompt batch; return each row's response ids, cut after its first EOS.

    With ``config.num_return_sequences = n`` rows come out prompt-major: prompt 0's n responses first.
    """
    import torch

    eos = config.eos_token_id
    eos_set = set(eos if isinstance(eos, list) else [eos])
    model_inputs = {k: v.to(model.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    with torch.inference_mode():  # a little faster than no_grad; the ids leave as Python lists
        out = model.generate(**model_inputs, generation_config=config)
    new = out[:, batch["input_ids"].shape[1]:].tolist()
    responses = []
    for row in new:
        cut = next((i + 1 for i, t in enumerate(row) if t in eos_set), len(row))
        responses.append(row[:cut])
    return responses


def positions_by_task(records: Sequence) -> list[list[int]]:
    """Positions of ``records`` grouped by task key (``record.key``), tasks in order of first appearance.

    A batch decodes until its longest answer ends, and one task's answers are alike in length: callers batch
    within these groups, so a few long answers (tracking boxes) do not hold up every batch. Records without a
    ``key`` (plain mappings) form one group.
    """
    groups: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        groups.setdefault(getattr(record, "key", ""), []).append(position)
    return list(groups.values())


def generate_responses(
    model,
    processor,
    records: Sequence,
    media_root: str | Path | None = None,
    *,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    batch_size: int = 8,
    media: MediaSettings | None = None,
    suppress_tokens: Sequence[int] | None = None,
    seed: int | None = None,
    cache: MediaCache | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """Answer every record with the model: one list of ``num_return_sequences`` response strings per record.

    Args:
        model, processor: as returned by :func:`onethinker.models.load_model`.
        records: :class:`onethinker.data.Record` objects (or mappings that validate as one).
        media_root: folder the records' media paths are relative to.
        max_new_tokens: response budget.
        temperature: ``0`` is greedy decoding; otherwise sampling at this temperature with ``top_p``.
        num_return_sequences: responses per record.
        batch_size: records per ``generate`` call.
        media: pixel/frame budgets (:class:`MediaSettings`).
        suppress_tokens: token ids never generated (default: vision placeholders, pad, chat start).
        seed: seeds torch before generating (reproducible sampling).
        on_batch: called with the number of records done after each batch (progress bars).

    Responses are decoded without special tokens (the end-of-turn token is dropped; ``<think>`` and
    ``<answer>`` tags stay).
    """
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    cache = cache if cache is not None else MediaCache(0)
    # Greedy decoding is deterministic: generate once, repeat the answer.
    per_call = num_return_sequences if temperature > 0 else 1
    config = generation_config(model, processor, max_new_tokens=max_new_tokens, temperature=temperature,
                               top_p=top_p, num_return_sequences=per_call, suppress_tokens=suppress_tokens)
    was_training = model.training
    model.eval()
    results: list[list[str]] = []
    try:
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            prompts = [prepare_prompt(processor, r, media_root, media=media, cache=cache) for r in chunk]
            ids = generate_ids(model, processor, collate_prompts(processor, prompts), config)
            texts = processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
            for i in range(len(chunk)):
                mine = texts[i * per_call : (i + 1) * per_call]
                results.append(mine if per_call == num_return_sequences else mine * num_return_sequences)
            if on_batch is not None:
                on_batch(len(results))
    finally:
        model.train(was_training)
    return results
