"""Evaluation: benchmark metrics for all ten tasks, a runner over HF models or OpenAI-compatible servers,
mask backends for segmentation, and markdown reports beside the paper's figures.

Usage::

    from onethinker.eval import score_predictions, markdown_report
    results = score_predictions(records_with_response, media_root="data/")
    print(markdown_report(results))

CLI: ``onethinker eval score PRED.jsonl`` and ``onethinker eval run --model PATH_OR_URL --bench FILE``.
"""

from __future__ import annotations

from onethinker.eval.blind import (
    BlindRow,
    MediaSwap,
    PairedRow,
    blind_control,
    blind_markdown,
    blind_table,
    paired_table,
    record_accuracy,
    swap_media,
)
from onethinker.eval.masks import (
    GrabCutBackend,
    MaskBackend,
    MaskError,
    PixelPrompt,
    decode_mask,
    encode_rle,
    get_mask_backend,
)
from onethinker.eval.reference import REFERENCES, references_for
from onethinker.eval.report import markdown_report
from onethinker.eval.score import ScoreError, score_predictions
from onethinker.eval.suites import SUITES

__all__ = [
    "BlindRow",
    "PairedRow",
    "MediaSwap",
    "blind_control",
    "blind_markdown",
    "blind_table",
    "paired_table",
    "record_accuracy",
    "swap_media",
    "GrabCutBackend",
    "MaskBackend",
    "MaskError",
    "PixelPrompt",
    "REFERENCES",
    "SUITES",
    "ScoreError",
    "decode_mask",
    "encode_rle",
    "get_mask_backend",
    "markdown_report",
    "references_for",
    "score_predictions",
]
