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
    Models whose positions :func:`decode_ids` knows how to continue (Qwen3-VL) decode there; others through
    Hugging Face ``generate``. Both give the same greedy tokens and sample from the same distribution.
    """
    import torch

    model_inputs = {k: v.to(model.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    if supports_decode(model):
        return decode_ids(model, model_inputs, config)
    return hf_generate_ids(model, model_inputs, config)


def hf_generate_ids(model, batch: dict, config) -> list[list[int]]:
    """Hugging Face ``generate`` on a collated batch (tensors on the model's device), each row cut after its
    first EOS: :func:`generate_ids` for models :func:`decode_ids` does not know, and the reference the tests
    and ``benchmarks/decode_speed.py`` hold our loop to."""
    import torch

    eos = config.eos_token_id
    eos_set = set(eos if isinstance(eos, list) else [eos])
    with torch.inference_mode():  # a little faster than no_grad; the ids leave as Python lists
        out = model.generate(**batch, generation_config=config)
    return [row[: next((i + 1 for i, t in enumerate(row) if t in eos_set), len(row))]
            for row in out[:, batch["input_ids"].shape[1]:].tolist()]


_DECODE_TYPES = ("qwen3_vl",)  # the family the tests compare with generate


def _base(model):
    """The transformers model under a PEFT wrapper (LoRA), or the model itself."""
    return model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model


def supports_decode(model) -> bool:
    """Whether :func:`decode_ids` can continue this model's positions: Qwen3-VL's multimodal RoPE, whose
    decoding positions are the text position plus a per-row offset that ``get_rope_index`` returns."""
    base = _base(model)
    return (getattr(base.config, "model_type", None) in _DECODE_TYPES
            and callable(getattr(getattr(base, "model", None), "get_rope_index", None)))


def _cache_kwarg(model) -> str:
    import inspect

    params = inspect.signature(_base(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.x


def decode_ids(model, batch: dict, config, *, scores: list | None = None) -> list[list[int]]:
    """Our own decoding loop for a collated batch (tensors on the model's device): what ``generate`` returns
    through :func:`generate_ids`, in less time.

    - Each prompt is encoded once (vision tower and prefill) and its cache repeated for its
      ``config.num_return_sequences`` rows; ``generate`` encodes every row.
    - A row leaves the batch at its EOS: the others decode on without it, while ``generate`` runs every row
      until the longest answer ends.

    Sampling follows the config as ``generate`` does: suppressed tokens get probability 0, then the logits are
    divided by the temperature and cut to the nucleus ``top_p``, then one token is drawn from the global torch
    generator (seed it for reproducible rollouts); ``do_sample=False`` takes the arg-max. ``scores``, when
    given, receives per step a ``(rows, vocab)`` tensor of the processed log-probabilities, ``-inf`` on
    banned tokens (rows that have finished are ``nan``), for tests that compare distributions.
    """
    import inspect

    import torch

    n = int(config.num_return_sequences or 1)
    eos = config.eos_token_id
    eos_ids = torch.tensor(sorted(eos if isinstance(eos, list) else [eos]), device=model.device)
    banned = torch.tensor(sorted(config.suppress_tokens or []), dtype=torch.long, device=model.device)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    inner = _base(model).model
    rope_args = {"input_ids": ids, "mm_token_type_ids": batch.get("mm_token_type_ids"),
                 "image_grid_thw": batch.get("image_grid_thw"), "video_grid_thw": batch.get("video_grid_thw"),
                 "attention_mask": mask}
    accepted = inspect.signature(inner.get_rope_index).parameters
    positions, deltas = inner.get_rope_index(**{k: v for k, v in rope_args.items() if k in accepted})
    # each row's last text position (prompts are left-padded: its count of real tokens, less one)
    last = (mask.long().sum(-1, keepdim=True) - 1).clamp(min=0)
    cache_key = _cache_kwarg(model)
    from transformers import DynamicCache

    cache = DynamicCache(config=_base(model).config)
    max_new = int(config.max_new_tokens)
    rows = ids.shape[0] * n
    responses: list[list[int]] = [[] for _ in range(rows)]
    with torch.inference_mode():
        out = model(**batch, position_ids=positions, use_cache=True, logits_to_keep=1, **{cache_key: cache})
        logits = out.logits[:, -1].float()
        # The mask is as long as the whole answer from the start; step k attends to its first columns.
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], max_new)], 1)
        if n > 1:
            cache.batch_repeat_interleave(n)
            logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
            deltas, last = deltas.repeat_interleave(n, 0), last.repeat_interleave(n, 0)
        alive = torch.arange(rows, device=model.device)
        width = ids.shape[1]
        for step in range(max_new):
            token = _pick(logits, config, banned, scores, alive, rows)
            for row, t in zip(alive.tolist(), token.tolist(), strict=True):
                responses[row].append(t)
            if step == max_new - 1:
                break
            going = ~torch.isin(token, eos_ids)
            if not bool(going.all()):
                keep = going.nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                cache.batch_select_indices(keep)
                alive, token, mask, deltas, last = alive[keep], token[keep], mask[keep], deltas[keep], last[keep]
            last = last + 1
            position = (last + deltas).unsqueeze(0).expand(3, -1, -1)
            out = model(input_ids=token.unsqueeze(1), attention_mask=mask[:, : width + step + 1],
                        position_ids=position, use_cache=True, **{cache_key: cache})
            logits = out.logits[:, -1].float()
    return responses


def _pick(logits, config, banned, scores, alive, rows):
    """One token per row from ``generate``'s processing order: suppress, temperature, top-p, draw."""
    import torch

    if banned.numel():
        logits[:, banned] = float("-inf")
    if not config.do_sample:
        if scores is not None:
            scores.append(_scatter_rows(logits.log_softmax(-1), alive, rows))
        return logits.argmax(-1)
    logits = logits / float(config.temperature)
    top_p = config.top_p
    if top_p is not None and top_p < 1.0:
        ordered, order = logits.sort(-1)  # ascending, as Hugging Face's top-p warper cuts from below
        dropped = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
        dropped[:, -1] = False  # the most likely token always stays
        logits = logits.masked_fill(dropped.scatter(1, order, dropped), float("-inf"))
    probs = logits.softmax(-1)
    if scores is not None:
        scores.append(_scatter_rows(logits.log_softmax(-1), alive, rows))
    return torch.multinomial(probs, 1).squeeze(1)


def _scatter_rows(values, alive, rows):
    import torch

    full = torch.full((rows, values.shape[1]), float("nan"), dtype=values.dtype, device=values.device)
    full[alive] = values
    return full


def positions_by_task(records: Sequence) -> list[list[int]]:
    """Positions of ``records`` grouped by task key (``record.key``), tasks in order of first appearance.

    One task's prompts and answers are alike in length: callers batch within these groups, so little padding
    is encoded and, under ``generate`` (which decodes a batch until its longest answer ends), a few long
    answers (tracking boxes) do not hold up every batch. Records without a ``key`` (plain mappings) form one
    group.
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
