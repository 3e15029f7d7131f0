"""Model loading options, prompt encoding for image and video, and rollout log-probabilities."""

from __future__ import annotations

import pytest
import torch

from onethinker.models import load_model, suppressed_token_ids
from onethinker.models.encode import (
    MediaSettings,
    append_responses,
    collate_prompts,
    prepare_messages,
    select_rows,
)
from onethinker.models.generate import (
    _pick,
    decode_ids,
    generate_ids,
    generate_responses,
    generation_config,
    hf_generate_ids,
    supports_decode,
)
from onethinker.train.forward import token_logprobs

SMALL = MediaSettings(image_max_pixels=16 * 32 * 32, video_max_pixels=4 * 32 * 32, video_max_frames=8)


def _messages(kind: str, path, text: str):
    return [{"role": "user", "content": [{"type": kind, kind: str(path)}, {"type": "text", "text": text}]}]


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    return load_model(tiny_dir)


@pytest.fixture(scope="module")
def two_prompts(loaded, media_dir):
    _, processor = loaded
    image = prepare_messages(processor, _messages("image", media_dir / "img.png", "What colour?"), media=SMALL)
    video = prepare_messages(processor, _messages("video", media_dir / "vid.mp4", "When?"), media=SMALL)
    return image, video


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_freeze_vision_leaves_only_the_language_model_trainable(tiny_dir):
    model, _ = load_model(tiny_dir, freeze_vision=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not any(".visual." in n for n in trainable)
    assert any("language_model" in n for n in trainable)


def test_train_only_trains_exactly_the_matching_parameters(tiny_dir):
    model, _ = load_model(tiny_dir, train_only=[r"language_model\.layers\.0\.", r"visual\.merger\."])
    names = [n for n, _ in model.named_parameters()]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {n for n in names if "language_model.layers.0." in n or "visual.merger." in n}
    assert trainable == expected and len(expected) < len(names)
    assert any("merger" in n for n in trainable) and any("layers.0.mlp" in n for n in trainable)
    # freeze_vision wins over a pattern that names a vision module
    model, _ = load_model(tiny_dir, freeze_vision=True, train_only=[r"visual\.merger\.", r"layers\.1\."])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("language_model.layers.1." in n for n in trainable)


@pytest.mark.parametrize(("patterns", "lora", "message"), [
    (["layers\\.99\\."], None, "matches no parameter"),
    (["layers[0"], None, "is not a regular expression"),
    (["layers\\.0\\."], {"r": 4, "alpha": 8}, "set one of them"),
])
def test_train_only_refuses_what_would_train_the_wrong_weights(tiny_dir, patterns, lora, message):
    with pytest.raises(ValueError, match=message):
        load_model(tiny_dir, train_only=patterns, lora=lora)


def test_lora_trains_only_adapters_outside_the_vision_tower(tiny_dir):
    pytest.importorskip("peft")
    model, _ = load_model(tiny_dir, lora={"r": 4, "alpha": 8})
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any(".visual." in n for n in trainable)


def test_suppressed_tokens_keep_eos(loaded):
    model, processor = loaded
    banned = suppressed_token_ids(processor, model)
    assert processor.tokenizer.eos_token_id not in banned
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") in banned
    assert processor.tokenizer.pad_token_id in banned


def test_image_and_video_prompts_carry_token_types_and_timestamps(loaded, two_prompts):
    _, processor = loaded
    image, video = two_prompts
    # 128x96 noise fits the 16-token budget as 128x96 (multiples of 32): 4x3 merged tokens.
    assert image.images[0].size == (128, 96)
    # 3 s at 2 fps -> 6 frames; two frames per temporal patch -> 3 timestamps in the prompt.
    assert video.videos[0].shape[0] == 6
    batch = collate_prompts(processor, [image, video])
    types = batch["mm_token_type_ids"]
    assert int((types[0] == 1).sum()) == int(batch["image_grid_thw"][0].prod()) // 4 == 12
    assert int((types[1] == 2).sum()) == int(batch["video_grid_thw"][0].prod()) // 4
    assert not (types[0] == 2).any() and not (types[1] == 1).any()
    text = processor.tokenizer.decode(batch["input_ids"][1])
    assert text.count(" seconds>") == 3
    assert batch["attention_mask"][:, -1].all()  # left padding: prompts end flush right


def test_reforward_log_probs_match_generation(loaded, two_prompts):
    """Rollout log-probs recomputed on [prompt | response] equal the sampler's own (M-RoPE positions agree)."""
    model, processor = loaded
    batch = collate_prompts(processor, list(two_prompts))
    config = generation_config(model, processor, max_new_tokens=10, temperature=1.0, num_return_sequences=3)
    config.return_dict_in_generate, config.output_logits = True, True
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**batch, generation_config=config)
    seq = out.sequences[:, batch["input_ids"].shape[1]:]
    sampled = torch.stack(out.logits, 1).float().log_softmax(-1).gather(-1, seq.unsqueeze(-1)).squeeze(-1)
    rows = select_rows(batch, [0, 0, 0, 1, 1, 1], [(1, 0), (0, 1)])
    full = append_responses(rows, seq.tolist(), processor.tokenizer.pad_token_id)
    with torch.no_grad():
        recomputed, entropy = token_logprobs(model, full, with_entropy=True)
    assert torch.allclose(recomputed, sampled, atol=1e-4)
    assert entropy.shape == seq.shape and (entropy > 0).all()


def test_generated_responses_stop_after_eos(loaded, two_prompts):
    model, processor = loaded
    batch = collate_prompts(processor, list(two_prompts))
    eos = processor.tokenizer.eos_token_id
    config = generation_config(model, processor, max_new_tokens=30, temperature=1.0, num_return_sequences=4)
    # Make EOS likely so some rows stop early.
    with torch.no_grad():
        model.lm_head.weight[eos] += 0.3 * model.lm_head.weight.abs().mean()
    try:
        torch.manual_seed(1)
        responses = generate_ids(model, processor, batch, config)
    finally:
        with torch.no_grad():
            model.lm_head.weight[eos] -= 0.3 * model.lm_head.weight.abs().mean()
    assert len(responses) == 8
    for r in responses:
        assert eos not in r[:-1]
        assert len(r) == 30 or r[-1] == eos
    assert any(len(r) < 30 for r in responses)


def _four_prompts(processor, two_prompts):
    text = [prepare_messages(processor, [{"role": "user", "content": [{"type": "text", "text": t}]}])
            for t in ("How many circles?", "Read the text in the picture, please.")]
    return collate_prompts(processor, [*two_prompts, *text])  # image, video, text-only, left-padded


@pytest.fixture(scope="module")
def scrambled(loaded):
    """The tiny model with large random weights: its greedy answers vary from token to token and from prompt
    to prompt (the small init repeats one token), so a comparison of two decoders means something."""
    import copy

    model, processor = loaded
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() > 1:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.3)
    return model, processor


def test_our_decoding_gives_generates_greedy_answers_as_rows_finish(scrambled, two_prompts):
    """Rows leave the batch at their EOS and the others decode on: every row's greedy answer is still the
    one Hugging Face ``generate`` gives, over image, video and text-only prompts."""
    model, processor = scrambled
    assert supports_decode(model)
    batch = _four_prompts(processor, two_prompts)
    config = generation_config(model, processor, max_new_tokens=24)
    full = hf_generate_ids(model, batch, config)
    assert all(len(row) == 24 for row in full) and len({tuple(row) for row in full}) == 4
    assert decode_ids(model, batch, config) == full
    # Tokens the rows emit count as EOS too, so the rows end at different steps.
    config.eos_token_id = sorted({full[0][3], full[1][9], full[2][15], processor.tokenizer.eos_token_id})
    expected = hf_generate_ids(model, batch, config)
    lengths = [len(row) for row in expected]
    assert len(set(lengths)) >= 3 and min(lengths) <= 4 and max(lengths) >= 12, lengths
    assert decode_ids(model, batch, config) == expected
    assert generate_ids(model, processor, batch, config) == expected


def test_our_sampling_is_the_distribution_the_reforward_scores(loaded, two_prompts):
    """Sampled rows come out prompt-major, each prompt encoded once for its n rows; the log-probabilities the
    loop sampled from (suppressed tokens banned, temperature applied) are what the re-forward computes, and
    its first step's distribution is ``generate``'s."""
    model, processor = loaded
    batch = collate_prompts(processor, list(two_prompts))
    config = generation_config(model, processor, max_new_tokens=10, temperature=0.7, num_return_sequences=3)
    scores: list = []
    torch.manual_seed(0)
    responses = decode_ids(model, batch, config, scores=scores)
    assert len(responses) == 6 and all(len(r) == 10 for r in responses)
    assert len({tuple(r) for r in responses}) > 2  # sampled, not one answer repeated
    rows = select_rows(batch, [0, 0, 0, 1, 1, 1], [(1, 0), (0, 1)])
    full = append_responses(rows, responses, processor.tokenizer.pad_token_id)
    with torch.no_grad():
        recomputed, _ = token_logprobs(model, full, temperature=0.7,
                                       suppress_tokens=config.suppress_tokens)
    seq = torch.tensor(responses)
    sampled = torch.stack(scores, 1).gather(-1, seq.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(recomputed, sampled, atol=1e-4)
    assert torch.isinf(scores[0][:, config.suppress_tokens]).all()
    # Step one depends on the prompt alone: generate's processed scores give the same distribution.
    config.return_dict_in_generate, config.output_scores = True, True
    with torch.no_grad():
        out = model.generate(**batch, generation_config=config)
    assert torch.allclose(out.scores[0].float().log_softmax(-1), scores[0], atol=1e-5)
    # Almost no temperature: each prompt's n rows are its greedy answer.
    config = generation_config(model, processor, max_new_tokens=10, temperature=1e-4, num_return_sequences=3)
    greedy = hf_generate_ids(model, batch, generation_config(model, processor, max_new_tokens=10))
    assert decode_ids(model, batch, config) == [greedy[0]] * 3 + [greedy[1]] * 3


def test_our_top_p_cut_is_huggingfaces(loaded):
    from transformers import TopPLogitsWarper

    model, processor = loaded
    logits = torch.randn(5, 300, generator=torch.Generator().manual_seed(0)) * 3
    for top_p in (0.3, 0.9):
        config = generation_config(model, processor, max_new_tokens=4, temperature=0.8, top_p=top_p)
        scores: list = []
        _pick(logits.clone(), config, torch.tensor([], dtype=torch.long), scores, torch.arange(5), 5)
        expected = TopPLogitsWarper(top_p)(None, logits / 0.8).log_softmax(-1)
        assert torch.equal(torch.isinf(scores[0]), torch.isinf(expected))
        assert torch.allclose(scores[0], expected, atol=1e-5)
        assert 0 < int(torch.isfinite(scores[0]).sum(-1).min()) < 300


def test_a_lora_model_decodes_in_our_loop_through_its_adapters(tiny_dir, two_prompts):
    pytest.importorskip("peft")
    model, processor = load_model(tiny_dir, lora={"r": 4, "alpha": 8})
    with torch.no_grad():  # adapters that change the answers (LoRA's B starts at zero)
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(1)) * 0.5)
    assert supports_decode(model)
    batch = collate_prompts(processor, list(two_prompts))
    config = generation_config(model, processor, max_new_tokens=12)
    expected = hf_generate_ids(model, batch, config)
    with model.disable_adapter():
        assert hf_generate_ids(model, batch, config) != expected
    assert decode_ids(model, batch, config) == expected


def test_models_without_known_positions_use_generate():
    class Other:
        config = type("Config", (), {"model_type": "llava"})()

    assert not supports_decode(Other())


def test_append_responses_masks_only_response_tokens():
    batch = {"input_ids": torch.tensor([[0, 5, 6], [7, 8, 9]]), "attention_mask": torch.tensor([[0, 1, 1], [1, 1, 1]]),
             "mm_token_type_ids": torch.tensor([[0, 1, 0], [0, 0, 0]])}
    out = append_responses(batch, [[10, 2], [11]], pad_token_id=0)
    assert out["input_ids"].tolist() == [[0, 5, 6, 10, 2], [7, 8, 9, 11, 0]]
    assert out["attention_mask"].tolist() == [[0, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert out["response_mask"].tolist() == [[1, 1], [1, 0]]
    assert out["mm_token_type_ids"].tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]


def test_generate_responses_answers_every_record_in_order(loaded, tmp_path):
    from onethinker.data import read_records
    from onethinker.data.synth import synthesize

    root = synthesize(tmp_path / "corpus", 12, 0)  # one record per task key, images and videos
    records = [r for _, r in read_records(root / "data.jsonl")]
    model, processor = loaded
    done = []
    greedy = generate_responses(model, processor, records, root, max_new_tokens=6, num_return_sequences=2,
                                batch_size=5, media=SMALL, on_batch=done.append)
    assert len(greedy) == 12 and all(len(r) == 2 and r[0] == r[1] for r in greedy)  # greedy: one answer twice
    assert done == [5, 10, 12]
    sampled = generate_responses(model, processor, records[:2], root, max_new_tokens=6, temperature=1.0,
                                 num_return_sequences=3, media=SMALL, seed=0)
    again = generate_responses(model, processor, records[:2], root, max_new_tokens=6, temperature=1.0,
                               num_return_sequences=3, media=SMALL, seed=0)
    assert sampled == again and all(len(r) == 3 for r in sampled)  # seeded sampling is reproducible
    # Batching does not change greedy answers (left padding is handled).
    alone = generate_responses(model, processor, records[3:4], root, max_new_tokens=6, media=SMALL)
    assert alone[0][0] == greedy[3][0]
