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


def test_split_digits_gives_one_token_per_digit_and_keeps_words_whole(tmp_path):
    from transformers import AutoProcessor

    texts = ["The red circle is at [410, 161, 660, 495]."] * 40 + ["A blue square at [12, 7, 998, 1000]."] * 40
    out = build_tiny(tmp_path / "m", texts=texts, spec=TinySpec(vocab_size=400, split_digits=True))
    tok = AutoProcessor.from_pretrained(out).tokenizer
    pieces = [tok.decode([i]) for i in tok("a red square at [410, 7]", add_special_tokens=False)["input_ids"]]
    assert [p for p in pieces if p.strip().isdigit()] == ["4", "1", "0", "7"]
    assert " red" in pieces and " square" in pieces  # content words are their own tokens, not fused with others
    assert tok.decode(tok("[410, 7]")["input_ids"]) == "[410, 7]"
    merged = build_tiny(tmp_path / "w", texts=texts, spec=TinySpec(vocab_size=400))
    whole = AutoProcessor.from_pretrained(merged).tokenizer
    assert any("410" in whole.decode([i]) for i in whole("at [410, 7]", add_special_tokens=False)["input_ids"])


def test_prompt_phrases_make_each_template_sentence_one_token_and_decode_exactly(tmp_path):
    from transformers import AutoProcessor

    from onethinker.models.tiny import template_phrases
    from onethinker.tasks import QUESTION_TEMPLATE, prompt_text

    phrases = template_phrases()
    assert phrases and all(len(p) >= 16 and "<think>" not in p and "<answer>" not in p for p in phrases)
    assert QUESTION_TEMPLATE.split("{question}")[1].split("<think>")[0] in phrases
    text = prompt_text("<image>How many circles are in the image?", "numerical")
    plain = build_tiny(tmp_path / "a", texts=[text] * 20, spec=TinySpec(vocab_size=400))
    short = build_tiny(tmp_path / "b", texts=[text] * 20, spec=TinySpec(vocab_size=400, prompt_phrases=True))
    plain_tok, short_tok = (AutoProcessor.from_pretrained(m).tokenizer for m in (plain, short))
    ids = short_tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) < len(plain_tok(text, add_special_tokens=False)["input_ids"]) / 2
    assert short_tok.decode(ids, skip_special_tokens=True) == text
    pieces = [short_tok.decode([i]) for i in ids]
    first = next(i for i, piece in enumerate(pieces) if piece in phrases)  # the question's words stay apart
    assert "".join(pieces[:first]) == "<image>How many circles are in the image?" and first >= 8


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
