"""`onethinker predict`: answer one question about one image or video (not yet built)."""

from __future__ import annotations


def predict_command() -> None:
    """Answer one question about an image or a video with a model."""
    raise NotImplementedError("predict is being built")
