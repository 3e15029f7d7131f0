"""The tiny model's vision settings: corpus pixel statistics, a wide-init tower, and its own learning rate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image


def _corpus(root, colours):
    """A JSONL corpus of flat images, one per colour, plus one record with no image."""
    lines = []
    for i, colour in enumerate(colours):
        Image.fromarray(np.full((8, 10, 3), colour, np.uint8)).save(root / f"{i}.png")
        lines.append({"problem": "<image>What colour?", "problem_type": "OCR", "data_type": "image",
                      "answer": "x", "images": [f"{i}.png"]})
    lines.append({"problem": "What?", "problem_type": "OCR", "data_type": "image", "answer": "x"})
    path = root / "data.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_pixel_statistics_are_the_corpus_per_channel_mean_and_std(tmp_path):
    from onethinker.models.tiny import pixel_statistics

    # Two equal-sized flat images: channel values (255, 0), (0, 0), (51, 153) -> means 127.5, 0, 102 / 255
    mean, std = pixel_statistics(_corpus(tmp_path, [(255, 0, 51), (0, 0, 153)]))
    assert mean == pytest.approx((0.5, 0.0, 0.4), abs=1e-4)
    assert std == pytest.approx((0.5, 0.001, 0.2), abs=1e-3)  # a constant channel gets the floor, not zero
    # the limit counts images, and a corpus without images keeps the generic normalisation
    assert pixel_statistics(_corpus(tmp_path, [(255, 0, 51), (0, 0, 153)]), limit=1)[0] == pytest.approx((1.0, 0.0, 0.2), abs=1e-4)
    (tmp_path / "none.jsonl").write_text(json.dumps({"problem": "q", "problem_type": "OCR", "data_type": "image",
                                                      "answer": "x"}) + "\n")
    assert pixel_statistics(tmp_path / "none.jsonl") == ((0.5,) * 3, (0.5,) * 3)


def test_tiny_spec_sets_the_processor_normalisation_and_widens_only_the_tower_io(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from onethinker.models.tiny import TinySpec, build_tiny

    spec = TinySpec(image_mean=(0.9, 0.8, 0.7), image_std=(0.1, 0.2, 0.3), vision_init_std=0.1)
    folder = build_tiny(tmp_path / "m", spec=spec)
    processor = AutoProcessor.from_pretrained(folder)
    for part in (processor.image_processor, processor.video_processor):
        assert list(part.image_mean) == pytest.approx([0.9, 0.8, 0.7])
        assert list(part.image_std) == pytest.approx([0.1, 0.2, 0.3])
    visual = AutoModelForImageTextToText.from_pretrained(folder).model.visual
    assert float(visual.patch_embed.proj.weight.std()) == pytest.approx(0.1, rel=0.05)
    assert float(visual.merger.linear_fc2.weight.std()) == pytest.approx(0.1, rel=0.05)
    assert float(visual.blocks[0].attn.qkv.weight.std()) == pytest.approx(0.02, rel=0.1)  # blocks stay gentle


def test_sincos_position_table_encodes_row_and_column_at_the_given_amplitude():
    import math

    from onethinker.models.tiny import sincos_position_table

    table = sincos_position_table(4, 8, 2.0)  # 4 x 4 grid, 8 channels: (sin, cos) of the row, then of the column
    assert tuple(table.shape) == (16, 8)
    # frequencies 1 and 1/100 (two per axis); cell 6 is row 1, column 2
    expected = [math.sin(1), math.sin(0.01), math.cos(1), math.cos(0.01),
                math.sin(2), math.sin(0.02), math.cos(2), math.cos(0.02)]
    assert table[6].tolist() == pytest.approx([2.0 * v for v in expected], abs=1e-6)
    assert table[0].tolist() == pytest.approx([0, 0, 2, 2, 0, 0, 2, 2])
    # cells of one row share the row half; cells of one column share the column half; all cells differ
    assert bool((table[4:8, :4] == table[4, :4]).all()) and bool((table[1::4, 4:] == table[1, 4:]).all())
    assert len({tuple(row.tolist()) for row in table}) == 16
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_position_table(4, 6, 1.0)


def test_tiny_spec_can_start_the_position_table_from_sines_and_cosines(tmp_path):
    from transformers import AutoModelForImageTextToText

    from onethinker.models.tiny import TinySpec, build_tiny, sincos_position_table

    folder = build_tiny(tmp_path / "m", spec=TinySpec(vision_pos_sincos=8.0))
    table = AutoModelForImageTextToText.from_pretrained(folder).model.visual.pos_embed.weight.detach()
    side = int(round(table.shape[0] ** 0.5))
    assert float((table - sincos_position_table(side, table.shape[1], 8.0)).abs().max()) < 1e-6
    plain = AutoModelForImageTextToText.from_pretrained(build_tiny(tmp_path / "p")).model.visual.pos_embed.weight
    assert float(plain.std()) == pytest.approx(0.02, rel=0.1)  # 0 keeps the random init


def test_vision_lr_gives_the_tower_its_own_rate_under_the_same_schedule(tiny_dir):
    from onethinker.models import load_model
    from onethinker.models.loading import vision_modules
    from onethinker.train.common import build_optimizer, build_scheduler
    from onethinker.train.config import OptimConfig

    model, _ = load_model(tiny_dir, device="cpu")
    optim = OptimConfig(lr=1e-3, vision_lr=1e-5, scheduler="linear", warmup_ratio=0.0)
    optimizer = build_optimizer(model, optim)
    vision = {id(p) for m in vision_modules(model) for p in m.parameters()}
    text_group, vision_group = optimizer.param_groups
    assert {id(p) for p in vision_group["params"]} == vision and vision_group["lr"] == 1e-5
    assert not vision & {id(p) for p in text_group["params"]} and text_group["lr"] == 1e-3
    scheduler = build_scheduler(optimizer, optim, total_steps=4)
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.75e-3, 0.75e-5])
    assert len(build_optimizer(model, OptimConfig(lr=1e-3)).param_groups) == 1


def test_sgd_moves_each_weight_by_lr_times_its_gradient_and_adamw_by_about_lr(tiny_dir):
    import torch

    from onethinker.models import load_model
    from onethinker.train.common import build_optimizer
    from onethinker.train.config import OptimConfig

    model, _ = load_model(tiny_dir, device="cpu")
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    torch.manual_seed(0)
    grads = [torch.randn_like(p).sign() * (1 + torch.rand_like(p)) * 1e-3 for p in params]  # |g| >> Adam's eps
    for optim, expected in ((OptimConfig(name="sgd", lr=0.5), [-0.5 * g for g in grads]),
                            (OptimConfig(name="adamw", lr=1e-3), [-1e-3 * torch.sign(g) for g in grads])):
        with torch.no_grad():
            for p, s in zip(params, start):
                p.copy_(s)
        optimizer = build_optimizer(model, optim)
        assert isinstance(optimizer, torch.optim.SGD if optim.name == "sgd" else torch.optim.AdamW)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
        for p, s, e in zip(params, start, expected):  # Adam's first step is lr * sign(g), up to eps
            torch.testing.assert_close(p.detach() - s, e, rtol=1e-3, atol=1e-7)
    # Momentum reaches the optimizer, and a second SGD step with momentum 0.5 moves 1.5 times as far.
    optimizer = build_optimizer(model, OptimConfig(name="sgd", lr=0.5, momentum=0.5))
    assert optimizer.param_groups[0]["momentum"] == 0.5
    p, g = params[0], grads[0]
    for step in (1.0, 1.5):
        before = p.detach().clone()
        for q, h in zip(params, grads):
            q.grad = h.clone()
        optimizer.step()
        torch.testing.assert_close(p.detach() - before, -0.5 * step * g, rtol=1e-4, atol=1e-8)
