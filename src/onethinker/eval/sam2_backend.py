"""SAM2 mask backend (optional: ``pip install 'onethinker[sam2]'`` and a local checkpoint file).

Images use ``SAM2ImagePredictor`` with the box and the labelled points in one prompt. Videos use the video
predictor: the prompt goes on the keyframe and is propagated forwards and then backwards from it, as the
paper's evaluation does. Nothing is downloaded: the checkpoint is a local path.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import numpy as np

from onethinker.eval.masks import MaskError, PixelPrompt

# Checkpoint file stem -> the config that ships inside the sam2 package.
_CONFIGS = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_tiny": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_small": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_base_plus": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_large": "configs/sam2/sam2_hiera_l.yaml",
}


def sam2_available() -> bool:
    """Whether the ``sam2`` package can be imported here."""
    return importlib.util.find_spec("sam2") is not None


def config_for_checkpoint(checkpoint: str | Path) -> str:
    """The packaged model config matching a checkpoint file name (e.g. ``sam2.1_hiera_large.pt``)."""
    stem = Path(checkpoint).stem
    if stem not in _CONFIGS:
        raise MaskError(
            f"cannot infer the SAM2 config for checkpoint {Path(checkpoint).name}; pass --sam2-config "
            f"(one of {', '.join(sorted(set(_CONFIGS.values())))})"
        )
    return _CONFIGS[stem]


class SAM2Backend:
    """Masks from SAM2. Models are built on first use and kept for the backend's lifetime."""

    name = "sam2"

    def __init__(self, checkpoint: str | Path, *, config: str | None = None, device: str = "cpu"):
        if not sam2_available():
            raise MaskError("the sam2 package is not installed: pip install 'onethinker[sam2]'")
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise MaskError(f"SAM2 checkpoint {self.checkpoint} does not exist")
        self.config = config or config_for_checkpoint(self.checkpoint)
        self.device = device
        self._image_predictor = None
        self._video_predictor = None

    def _image(self):
        if self._image_predictor is None:
            from sam2.build_sam import build_sam2
            from sam2.sam2_image_predictor import SAM2ImagePredictor

            model = build_sam2(self.config, str(self.checkpoint), device=self.device)
            self._image_predictor = SAM2ImagePredictor(model)
        return self._image_predictor

    def _video(self):
        if self._video_predictor is None:
            from sam2.build_sam import build_sam2_video_predictor

            self._video_predictor = build_sam2_video_predictor(self.config, str(self.checkpoint), device=self.device)
        return self._video_predictor

    @staticmethod
    def _prompt_args(prompt: PixelPrompt) -> dict:
        args: dict = {}
        if prompt.has_box:
            args["box"] = prompt.box.astype(np.float32)
        if len(prompt.points):
            args["points"] = prompt.points.astype(np.float32)
            args["labels"] = prompt.labels.astype(np.int32)
        return args

    def segment_image(self, image: np.ndarray, prompt: PixelPrompt) -> np.ndarray:
        import torch

        args = self._prompt_args(prompt)
        if not args:
            return np.zeros(image.shape[:2], dtype=bool)
        predictor = self._image()
        with torch.inference_mode():
            predictor.set_image(image)
            masks, _, _ = predictor.predict(
                point_coords=args.get("points"), point_labels=args.get("labels"), box=args.get("box"),
                multimask_output=False,
            )
        return np.asarray(masks[0]) > 0

    def segment_video(self, frames: np.ndarray, key_index: int, prompt: PixelPrompt) -> np.ndarray:
        import torch
        from PIL import Image

        count = len(frames)
        masks = np.zeros(frames.shape[:3], dtype=bool)
        args = self._prompt_args(prompt)
        if count == 0 or not args:
            return masks
        key_index = int(np.clip(key_index, 0, count - 1))
        predictor = self._video()
        with tempfile.TemporaryDirectory(prefix="onethinker_sam2_") as frame_dir, torch.inference_mode():
            for i, frame in enumerate(frames):  # the video predictor reads a folder of numbered JPEGs
                Image.fromarray(frame).save(Path(frame_dir) / f"{i:05d}.jpg", quality=95)
            state = predictor.init_state(video_path=frame_dir)
            predictor.add_new_points_or_box(state, frame_idx=key_index, obj_id=1, **args)
            for reverse in (False, True):
                for frame_idx, _, logits in predictor.propagate_in_video(
                    state, start_frame_idx=key_index, reverse=reverse
                ):
                    masks[int(frame_idx)] = np.asarray((logits[0] > 0).squeeze().cpu())
            predictor.reset_state(state)
        return masks
