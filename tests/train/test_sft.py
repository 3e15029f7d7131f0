"""SFT: the loss covers the response only, the model learns its targets, checkpoints resume."""

from __future__ import annotations

import json

import pytest

from onethinker.train.config import SFTConfig, load_config
from onethinker.train.sft import SFTTrainer
from onethinker.train.sft_data import SFTDataError, read_sft_examples

SMALL_MEDIA = ["data.image_max_pixels=4096", "data.image_min_pixels=1024", "data.video_max_pixels=1024",
               "data.video_min_pixels=1024", "data.video_max_frames=4"]


def _cfg(model, train_file, out, *extra):
    return load_config(SFTConfig, None, [f"model.path={model}", f"data.train_file={train_file}", *SMALL_MEDIA,
                                         f"trainer.output_dir={out}", "trainer.tensorboard=false",
                                         "trainer.threads=1", *extra])


def test_loss_mask_covers_exactly_the_response_and_end_of_turn(tiny_model, synth_corpus, tmp_path):
    trainer = SFTTrainer(_cfg(tiny_model, synth_corpus, tmp_path / "run", "trainer.max_steps=1"))
    ex = trainer.examples[:3]
    batch = trainer.encode(ex, trainer.response_ids[:3])
    tok = trainer.processor.tokenizer
    width = batch["response_mask"].shape[1]
    for row, example in enumerate(ex):
        ids = batch["input_ids"][row, -width:][batch["response_mask"][row].bool()].tolist()
        assert tok.decode(ids) == example.response + "<|im_end|>"
    # Prompt tokens (including the image/video placeholders) sit before the response part: no loss there.
    assert batch["mm_token_type_ids"][:, -width:].sum() == 0
    assert (batch["mm_token_type_ids"][:, :-width] > 0).any()


def test_sft_memorises_a_response_and_generates_it(tiny_model, synth_corpus, tmp_path):
    from onethinker.models import load_model
    from onethinker.models.generate import generate_responses
    from onethinker.models.encode import MediaSettings
    from onethinker.data import read_records

    one = tmp_path / "one.jsonl"
    line = synth_corpus.read_text().splitlines()[0]  # a multiple-choice image record
    one.write_text(line + "\n")
    out = tmp_path / "run"
    cfg = _cfg(tiny_model, one, out, f"data.media_root={synth_corpus.parent}", "trainer.max_steps=60",
               "trainer.batch_size=1", "trainer.micro_batch_size=1", "optim.lr=1e-2", "optim.warmup_ratio=0",
               "optim.scheduler=constant")
    final = SFTTrainer(cfg).train()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["loss"] > 6.0 and rows[-1]["loss"] < 0.2  # from ~ln(1028) to memorised
    model, processor = load_model(final, trainable=False)
    record = next(r for _, r in read_records(one))
    answer = generate_responses(model, processor, [record], synth_corpus.parent, max_new_tokens=80,
                                media=MediaSettings(image_max_pixels=4096, image_min_pixels=1024))
    assert answer == [[json.loads(line)["sft_response"]]]


class _Crash(Exception):
    pass


def _crash_at(step):
    def progress(done, total, metrics):
        if done == step:
            raise _Crash
    return progress


def test_sft_resume_continues_exactly_from_the_checkpoint(tiny_model, synth_corpus, tmp_path):
    out = tmp_path / "run"
    base = ["trainer.max_steps=4", "trainer.batch_size=2", "trainer.micro_batch_size=1", "trainer.save_every=2",
            "optim.lr=1e-3"]
    SFTTrainer(_cfg(tiny_model, synth_corpus, tmp_path / "full", *base)).train()
    with pytest.raises(_Crash):  # dies after its step-2 checkpoint
        SFTTrainer(_cfg(tiny_model, synth_corpus, out, *base), progress=_crash_at(3)).train()
    SFTTrainer(_cfg(tiny_model, synth_corpus, out, "trainer.resume=true", *base)).train()
    a = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in b] == [1, 2, 3, 4]  # step 3 of the crashed run was dropped and redone
    assert [round(r["loss"], 5) for r in b] == [round(r["loss"], 5) for r in a]


def test_sharegpt_lines_map_placeholders_to_media_in_order(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps({
        "messages": [{"role": "user", "content": "<image>Compare with <video>. Which?"},
                     {"role": "assistant", "content": "<think>t</think><answer>A</answer>"}],
        "images": ["a.png"], "videos": ["b.mp4"]}) + "\n")
    (ex,) = read_sft_examples(path, tmp_path)
    parts = ex.messages[0]["content"]
    assert [p["type"] for p in parts] == ["image", "text", "video", "text"]
    assert parts[0]["image"] == str(tmp_path / "a.png") and parts[2]["video"] == str(tmp_path / "b.mp4")
    assert ex.response == "<think>t</think><answer>A</answer>"


@pytest.mark.parametrize("row, message", [
    ({"messages": [{"role": "user", "content": "<image>x"}, {"role": "assistant", "content": "y"}]},
     "sft.jsonl:2: images: the text has more <image> placeholders than images (0)"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "images": ["a.png"]},
     "sft.jsonl:2: images: 1 given but 0 <image> placeholders in the text"),
    ({"messages": [{"role": "user", "content": "x"}]},
     "sft.jsonl:2: messages: the last turn must be the assistant's response"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "sft.jsonl:2: messages[0].role: must be user/assistant"),
])
def test_bad_sharegpt_lines_name_file_line_and_field(tmp_path, row, message):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(SFTDataError) as err:
        read_sft_examples(path)
    assert message in str(err.value)


def test_records_without_sft_response_are_refused(synth_corpus, tmp_path):
    rows = [json.loads(x) for x in synth_corpus.read_text().splitlines()[:2]]
    del rows[1]["sft_response"]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SFTDataError, match=r"data.jsonl:2: sft_response: missing"):
        read_sft_examples(path, synth_corpus.parent)
