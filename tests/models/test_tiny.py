"""The tiny offline Qwen3-VL: it loads like a published checkpoint and cannot emit vision/pad tokens."""

from __future__ import annotations

import pytest

from onethinker.models.tiny import REASONING_TAGS, SPECIAL_TOKENS, TinySpec, build_tiny


def test_tiny_model_loads_back_with_auto_classes(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    processor = AutoProcessor.from_pretrained(tiny_dir)
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen3VLProcessor"
    # The default spec is the anchor benchmark's model: 453,312 parameters, vocabulary 1024 + 4 tags.
    assert sum(p.numel() for p in model.parameters()) == 453_312
    assert len(processor.tokenizer) == 1028
    assert model.config.vision_config.out_hidden_size == model.config.text_config.hidden_size


def test_tokenizer_has_qwen_specials_at_fixed_ids_and_tags_survive_decoding(tiny_dir):
    from transformers import AutoProcessor

    tok = AutoProcessor.from_pretrained(tiny_dir).tokenizer
    assert tok.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == list(range(8))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = '<think>Count the red circles.</think><answer>{"boxes": [12, 340, 500, 999]}</answer>'
    ids = tok(text, add_special_tokens=False)["input_ids"]
    for tag in REASONING_TAGS:  # each tag is one token
        assert tok.convert_tokens_to_ids(tag) in ids
    assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == text


def test_tokenizer_trained_on_given_texts_makes_them_short(tmp_path):
    from transformers import AutoProcessor

    phrase = "Zorblax quintuple hexagram glimmers"
    out = build_tiny(tmp_path / "m", texts=[phrase] * 50, spec=TinySpec(vocab_size=300))
    tok = AutoProcessor.from_pretrained(out).tokenizer
    assert len(tok(phrase, add_special_tokens=False)["input_ids"]) == 4  # one token per word


def test_random_model_never_generates_suppressed_tokens(tiny_dir):
    import torch
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    banned = set(model.generation_config.suppress_tokens)
    assert banned == {0, 1, 3, 4, 5, 6, 7}  # everything special except the EOS <|im_end|> (id 2)
    torch.manual_seed(0)
    out = model.generate(torch.tensor([[1, 20, 30, 40]]), max_new_tokens=200, do_sample=True, temperature=2.0,
                         top_k=0, num_return_sequences=8)
    assert not banned & set(out[:, 4:].flatten().tolist())


def test_bad_spec_is_refused(tmp_path):
    with pytest.raises(ValueError, match="num_heads"):
        build_tiny(tmp_path / "m", spec=TinySpec(hidden_size=65, num_heads=2))
