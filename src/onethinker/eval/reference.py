"""OneThinker-8B figures reported in the paper (arXiv 2512.03043), as data: the reports print them beside
a run's own numbers where the benchmark and the metric match.

Benchmark names match case- and punctuation-insensitively against a group's name (the record's ``benchmark``
field), through the aliases. Each figure is in percent, under the metric name our suites produce.

ActivityNet: secondary summaries of the paper disagree on which metrics 65.0 and 43.6 are (one calls them R@0.3
and R@0.5, another calls 65.0 R@0.5; a third lists ActivityNet mIoU 45.9 instead), and the paper's own table
could not be checked here. They are recorded under R@0.3 / R@0.5 with ``confirmed=False``; reports flag them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PAPER = "OneThinker-8B (arXiv 2512.03043)"


@dataclass(frozen=True)
class Reference:
    benchmark: str
    metric: str
    value: float
    aliases: tuple[str, ...] = ()
    confirmed: bool = True
    note: str = ""


_UNCONFIRMED = ("metric name unconfirmed: summaries of the paper disagree (R@0.3/R@0.5, or 65.0 as R@0.5; one lists"
                " mIoU 45.9); check the paper's table")

REFERENCES: tuple[Reference, ...] = (
    Reference("MMMU", "accuracy", 70.6, ("mmmu val",)),
    Reference("MathVista", "accuracy", 77.6, ("mathvista testmini",)),
    Reference("LongVideo-Reason", "accuracy", 79.2, ("longvideoreason",)),
    Reference("Charades-STA", "R@0.3", 83.5, ("charades",)),
    Reference("Charades-STA", "R@0.5", 68.3, ("charades",)),
    Reference("ANet-RTL", "mIoU", 43.2, ("anet rtl", "activitynet-rtl")),
    Reference("ActivityNet", "R@0.3", 65.0, ("activitynet captions", "anet"), confirmed=False, note=_UNCONFIRMED),
    Reference("ActivityNet", "R@0.5", 43.6, ("activitynet captions", "anet"), confirmed=False, note=_UNCONFIRMED),
    Reference("RefCOCO testA", "Acc@0.5", 93.7, ("refcoco_testa", "refcoco test a")),
    Reference("GOT-10k", "AO", 73.0, ("got10k",)),
    Reference("RefCOCO val", "cIoU", 75.8, ("refcoco_val", "seg refcoco val", "refcoco")),
    Reference("MeViS", "J&F", 52.7, ("mevis valid u", "mevis val")),
)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9@&.]+", "", name.lower())


def references_for(group: str) -> dict[str, Reference]:
    """The paper's figures for one group name, keyed by metric (empty when the benchmark is not in the paper).

    A ``"benchmark / task"`` group (``--by-task``) matches on its benchmark part.
    """
    key = _norm(group.split(" / ")[0])
    out: dict[str, Reference] = {}
    for ref in REFERENCES:
        if key in {_norm(ref.benchmark), *(_norm(a) for a in ref.aliases)}:
            out[ref.metric] = ref
    return out
