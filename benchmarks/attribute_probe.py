"""Can the quickstart's tiny model learn to read an attribute off its image? A short-answer probe.

Builds the quickstart's tiny model, trains it (the warm-up's settings unless told otherwise) on one-object
describe images of the shapes world turned into short questions -- "What colour is the object?", "What
shape is the object?", "Where is the object?" -> ``<answer>red</answer>`` -- and reports held-out accuracy
per question. One question type is learned at once; a mixture only at a gentler rate (docs/training.md):

    python benchmarks/attribute_probe.py --out runs/p1 --questions colour --lr 3e-3 --scheduler cosine
    python benchmarks/attribute_probe.py --out runs/p3 --questions colour shape where --lr 3e-3 --scheduler cosine
    python benchmarks/attribute_probe.py --out runs/p3c --questions colour shape where --steps 300 --lr 3e-3
    python benchmarks/attribute_probe.py --out runs/p3l --questions colour shape where --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from onethinker.quickstart import QuickstartPlan

QUESTIONS = {"colour": "What colour is the object?", "shape": "What shape is the object?",
             "where": "Where is the object?"}
# "The image shows a red circle at the top left on a light grey background."
DESCRIPTION = re.compile(r"^The image shows a (\w+) (circle|square|triangle) at the "
                         r"((?:top|middle|bottom) (?:left|center|right)|center) on a")


def attributes(answer: str) -> dict[str, str]:
    found = DESCRIPTION.match(answer)
    if found is None:
        raise ValueError(f"not a one-object description: {answer!r}")
    return dict(zip(("colour", "shape", "where"), found.groups()))


def probe_lines(records, questions: list[str]) -> list[str]:
    """ShareGPT lines: record i asks question ``questions[i % len(questions)]`` about its one object."""
    lines = []
    for i, record in enumerate(records):
        kind = questions[i % len(questions)]
        lines.append(json.dumps({"messages": [
            {"role": "user", "content": "<image>" + QUESTIONS[kind]},
            {"role": "assistant", "content": f"<answer>{attributes(record.answer)[kind]}</answer>"}],
            "images": record.images}) + "\n")
    return lines


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--questions", nargs="+", choices=sorted(QUESTIONS), default=["colour"])
    parser.add_argument("--train", type=int, default=2000, help="training images")
    parser.add_argument("--test", type=int, default=150, help="held-out images (each asked every question)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--amp", type=float, default=8.0, help="sine-cosine position amplitude (0: random table)")
    parser.add_argument("--lr", type=float, default=QuickstartPlan.perception_lr)
    parser.add_argument("--scheduler", choices=["cosine", "constant"], default="constant")
    parser.add_argument("--hidden", type=int, default=QuickstartPlan.hidden_size, help="text model width")
    parser.add_argument("--layers", type=int, default=QuickstartPlan.layers, help="text model depth")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from onethinker.data import read_records
    from onethinker.data.synth import synthesize
    from onethinker.models import load_model
    from onethinker.models.encode import collate_prompts, prepare_messages
    from onethinker.models.generate import generate_ids, generation_config
    from onethinker.quickstart import make_data, make_model, sft_config
    from onethinker.train.common import media_settings, quiet_transformers
    from onethinker.train.config import DataConfig
    from onethinker.train.sft import train_sft

    quiet_transformers()
    torch.set_num_threads(1)
    plan = QuickstartPlan(out=args.out, seed=args.seed, vision_pos_sincos=args.amp, perception_steps=args.steps,
                          perception_lr=args.lr, hidden_size=args.hidden, layers=args.layers, train_size=240,
                          eval_size=12)
    train_file, _ = make_data(plan)  # the tokenizer learns the quickstart's corpus, as in the quickstart
    root = synthesize(args.out / "data" / "probe", args.train, args.seed, split="probe", difficulty=0.0,
                      tasks=["open-ended"])
    probe = root / "probe.jsonl"
    probe.write_text("".join(probe_lines([r for _, r in read_records(root / "data.jsonl")], args.questions)))
    model = make_model(plan, train_file, (probe,))
    config = sft_config(plan, model, probe, stage="perception")
    config.optim.scheduler = args.scheduler
    trained = train_sft(config)

    held = synthesize(args.out / "data" / "probe_test", args.test, args.seed, split="probe_test", difficulty=0.0,
                      tasks=["open-ended"])
    records = [r for _, r in read_records(held / "data.jsonl")]
    model, processor = load_model(trained, device="cpu", trainable=False)
    media = media_settings(DataConfig(**plan.media))
    settings = generation_config(model, processor, max_new_tokens=16, temperature=0.0, top_p=1.0,
                                 num_return_sequences=1, suppress_tokens=None)
    results = {}
    for kind in args.questions:
        texts = []
        for start in range(0, len(records), 50):  # the bare question, as trained (no published template)
            prompts = [prepare_messages(processor, [{"role": "user", "content": [
                {"type": "image", "image": str(held / r.images[0])}, {"type": "text", "text": QUESTIONS[kind]}]}],
                media=media) for r in records[start : start + 50]]
            with torch.no_grad():
                ids = generate_ids(model, processor, collate_prompts(processor, prompts), settings)
            texts += processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
        right = sum(re.sub(r"</?answer>", "", t).strip() == attributes(r.answer)[kind] for t, r in zip(texts, records))
        results[kind] = right / len(records)
        print(f"{kind:7s} {results[kind]:.2f}  ({right}/{len(records)})")
    (args.out / "probe.json").write_text(json.dumps({**{k: str(v) for k, v in vars(args).items()},
                                                     "accuracy": results}, indent=1))


if __name__ == "__main__":
    main()
