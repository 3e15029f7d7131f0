"""SAM2 mask backend through transformers' own ``Sam2Model`` / ``Sam2VideoModel`` and their processors.

One model folder (or hub id, e.g. ``facebook/sam2.1-hiera-large``) serves both: images go through
``Sam2Model`` with the box and the labelled points in one prompt; videos through ``Sam2VideoModel``: the prompt
goes on the keyframe, and the masks are propagated forwards from it to the last frame, then backwards to the
first, as the paper's evaluation does. Nothing beyond transformers is needed; a hub id downloads on first use
(a local folder never does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from onethinker.eval.masks import MaskError, PixelPrompt

DEFAULT_MODEL = "facebook/sam2.1-hiera-large"


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


class SAM2Backend:
    """Masks from SAM2. Models are loaded on first use and kept for the backend's lifetime.

    Args:
        model: a local folder saved by ``save_pretrained`` (config, weights, processor) or a hub id.
        device: torch device for both models.
        image_model, video_model, image_processor, video_processor: already-built parts (tests, notebooks);
            a part left ``None`` is loaded from ``model``.
    """

    name = "sam2"

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, device: str = "cpu", image_model=None,
                 video_model=None, image_processor=None, video_processor=None):
        self.model = str(model)
        path = Path(self.model).expanduser()
        if path.suffix == ".pt":
            raise MaskError(
                f"{self.model} is a checkpoint of the sam2 package; SAM2 now runs through transformers: pass a "
                f"model folder or a hub id (e.g. {DEFAULT_MODEL})")
        if path.exists():
            if not (path / "config.json").is_file():
                raise MaskError(f"SAM2 model folder {path} has no config.json (save one with save_pretrained, or "
                                f"pass a hub id such as {DEFAULT_MODEL})")
            self.model = str(path)
        elif not _looks_like_hub_id(self.model):
            raise MaskError(f"SAM2 model {self.model} is neither a folder nor a hub id (e.g. {DEFAULT_MODEL})")
        self.device = device
        self._image_model, self._video_model = image_model, video_model
        self._image_processor, self._video_processor = image_processor, video_processor

    # -- loading --------------------------------------------------------------------------------------------

    def _load(self, loader, what: str):
        try:
            return loader(self.model)
        except Exception as exc:  # a missing file, no network for a hub id, a config of another model
            raise MaskError(f"cannot load the SAM2 {what} from {self.model}: {exc}") from None

    def _image_parts(self):
        if self._image_model is None:
            from transformers import Sam2Model

            self._image_model = self._load(Sam2Model.from_pretrained, "image model").to(self.device).eval()
        if self._image_processor is None:
            from transformers import Sam2Processor

            self._image_processor = self._load(Sam2Processor.from_pretrained, "image processor")
        return self._image_model, self._image_processor

    def _video_parts(self):
        if self._video_model is None:
            from transformers import Sam2VideoModel

            self._video_model = self._load(Sam2VideoModel.from_pretrained, "video model").to(self.device).eval()
        if self._video_processor is None:
            from transformers import Sam2VideoProcessor

            self._video_processor = self._load(Sam2VideoProcessor.from_pretrained, "video processor")
        return self._video_model, self._video_processor

    # -- prompts --------------------------------------------------------------------------------------------

    @staticmethod
    def _prompt_args(prompt: PixelPrompt) -> dict:
        """The processor's nesting: boxes ``[image][box][4]``, points ``[image][object][point][2]``, labels
        ``[image][object][point]``; one object."""
        args: dict = {}
        if prompt.has_box:
            args["input_boxes"] = [[prompt.box.astype(float).tolist()]]
        if len(prompt.points):
            args["input_points"] = [[prompt.points.astype(float).tolist()]]
            args["input_labels"] = [[prompt.labels.astype(int).tolist()]]
        return args

    # -- masks ----------------------------------------------------------------------------------------------

    def segment_image(self, image: np.ndarray, prompt: PixelPrompt) -> np.ndarray:
        import torch

        args = self._prompt_args(prompt)
        if not args:
            return np.zeros(image.shape[:2], dtype=bool)
        model, processor = self._image_parts()
        inputs = processor(images=np.array(image), return_tensors="pt", **args).to(self.device)  # a writable copy
        with torch.inference_mode():
            out = model(**inputs, multimask_output=False)
        masks = processor.post_process_masks(out.pred_masks.cpu(), inputs["original_sizes"].cpu())[0]
        return np.asarray(masks[0, 0], dtype=bool)

    def segment_video(self, frames: np.ndarray, key_index: int, prompt: PixelPrompt) -> np.ndarray:
        import torch

        count = len(frames)
        masks = np.zeros(frames.shape[:3], dtype=bool)
        args = self._prompt_args(prompt)
        if count == 0 or not args:
            return masks
        key_index = int(np.clip(key_index, 0, count - 1))
        model, processor = self._video_parts()
        session = processor.init_video_session(video=list(np.array(frames)), inference_device=self.device,
                                               dtype=torch.float32)
        processor.add_inputs_to_inference_session(inference_session=session, frame_idx=key_index, obj_ids=1, **args)
        size = [[session.video_height, session.video_width]]
        covered = set()
        with torch.inference_mode():
            for reverse in (False, True):  # keyframe -> last frame, then keyframe -> first frame
                for out in model.propagate_in_video_iterator(session, start_frame_idx=key_index, reverse=reverse):
                    frame_masks = processor.post_process_masks([out.pred_masks.cpu()], original_sizes=size)[0]
                    masks[int(out.frame_idx)] = np.asarray(frame_masks[0, 0], dtype=bool)
                    covered.add(int(out.frame_idx))
        if len(covered) != count:  # a mask left empty would be scored as a miss without saying why
            raise MaskError(f"SAM2 propagation reached {len(covered)} of {count} frames")
        return masks
