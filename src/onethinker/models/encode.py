"""Corpus records -> processor inputs for image and video, and prompt + response layouts for training.

One chat turn per record (``onethinker.data.build_messages``), media decoded with ``onethinker.data.media``
under the pixel budgets of :class:`MediaSettings` (sides already multiples of the processor's patch factor,
so the processor only normalises and patchifies), then the stock processor expands the vision placeholders
and returns ``mm_token_type_ids``, which Qwen3-VL needs to place its multimodal RoPE.

Training layout (SFT and RL share it): ``[left-padded prompt | right-padded response]``. The response part
carries ``response_mask`` (1 on response tokens up to and including the end-of-turn token).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MediaSettings:
    """Pixel and frame budgets (defaults: the published RL training budgets).

    Attributes:
        image_min_pixels / image_max_pixels: area budget per image.
        video_fps: frames sampled per second of video.
        video_max_frames: at most this many frames per video.
        video_min_pixels / video_max_pixels: area budget per video frame.
    """

    image_min_pixels: int = 4 * 32 * 32
    image_max_pixels: int = 1024 * 32 * 32
    video_fps: float = 2.0
    video_max_frames: int = 128
    video_min_pixels: int = 4 * 32 * 32
    video_max_pixels: int = 64 * 32 * 32


@dataclass
class PromptInputs:
    """One prompt ready for the processor: chat text ending with the assistant header, decoded media."""

    text: str
    images: list = field(default_factory=list)
    videos: list = field(default_factory=list)
    video_metadata: list = field(default_factory=list)


class MediaCache:
    """A small LRU of decoded media, so RL does not decode the same video every time a prompt comes back."""

    def __init__(self, max_items: int = 512) -> None:
        self.max_items = max_items
        self._items: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple, load):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        if self.max_items > 0:
            self._items[key] = value
            if len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value


def vision_factor(processor) -> int:
    """Pixels per merged vision token side (``patch_size * merge_size``; 32 for Qwen3-VL, 28 for Qwen2.5-VL)."""
    ip = processor.image_processor
    return int(getattr(ip, "patch_size", 14)) * int(getattr(ip, "merge_size", 2))


def as_record(item):
    """A :class:`onethinker.data.Record` from a Record or a plain mapping (validated)."""
    from onethinker.data import Record

    if isinstance(item, Record):
        return item
    if isinstance(item, Mapping):
        return Record.model_validate(dict(item))
    raise TypeError(f"expected a Record or a mapping, got {type(item).__name__}")


def prepare_messages(
    processor,
    messages: list[dict],
    *,
    media: MediaSettings | None = None,
    cache: MediaCache | None = None,
    add_generation_prompt: bool = True,
) -> PromptInputs:
    """Render HF chat ``messages`` (media parts hold file paths) and decode their images and videos."""
    from onethinker.data.media import load_image, load_video
    from transformers.video_utils import VideoMetadata

    media = media or MediaSettings()
    cache = cache if cache is not None else MediaCache(0)
    factor = vision_factor(processor)
    images, videos, metadata = [], [], []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            continue
        for part in content:
            if part.get("type") == "image":
                path = str(part["image"])
                images.append(cache.get(
                    ("image", path, media.image_min_pixels, media.image_max_pixels, factor),
                    lambda p=path: load_image(p, min_pixels=media.image_min_pixels,
                                              max_pixels=media.image_max_pixels, factor=factor)))
            elif part.get("type") == "video":
                path = str(part["video"])
                video = cache.get(
                    ("video", path, media.video_fps, media.video_max_frames, media.video_min_pixels,
                     media.video_max_pixels, factor),
                    lambda p=path: load_video(p, fps=media.video_fps, max_frames=media.video_max_frames,
                                              min_pixels=media.video_min_pixels,
                                              max_pixels=media.video_max_pixels, factor=factor))
                videos.append(video.frames)
                metadata.append(VideoMetadata(**video.metadata()))
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return PromptInputs(text=text, images=images, videos=videos, video_metadata=metadata)


def prepare_prompt(
    processor,
    record,
    media_root: str | Path | None = None,
    *,
    media: MediaSettings | None = None,
    cache: MediaCache | None = None,
) -> PromptInputs:
    """One corpus record -> its chat prompt (published wording via the task registry) and decoded media."""
    from onethinker.data import build_messages

    messages = build_messages(as_record(record), media_root)
    return prepare_messages(processor, messages, media=media, cache=cache)


def collate_prompts(processor, prompts: Sequence[PromptInputs]) -> dict:
    """Run the processor over prompts: left-padded ``input_ids``, ``attention_mask``, ``mm_token_type_ids``,
    ``pixel_values`` / ``image_grid_thw``, ``pixel_values_videos`` / ``video_grid_thw`` (torch tensors)."""
    import torch

    images = [im for p in prompts for im in p.images]
    videos = [v for p in prompts for v in p.videos]
    kwargs: dict[str, Any] = {"text": [p.text for p in prompts], "return_tensors": "pt", "padding": True,
                              "padding_side": "left"}
    if images:
        kwargs["images"] = images
    if videos:
        kwargs["videos"] = videos
        kwargs["video_metadata"] = [m for p in prompts for m in p.video_metadata]
        kwargs["do_sample_frames"] = False  # our loader already sampled at the configured fps
        if hasattr(processor.video_processor, "cap_pixels_per_frame"):
            kwargs["cap_pixels_per_frame"] = True  # no effect without resizing; silences a version warning
    if images or videos:
        kwargs["do_resize"] = False  # our loader already resized to multiples of the patch factor
    batch = dict(processor(**kwargs))
    batch.pop("video_metadata", None)
    batch.pop("token_type_ids", None)
    if "mm_token_type_ids" not in batch:  # processors that do not emit it: derive it from placeholder ids
        batch["mm_token_type_ids"] = mm_token_types(processor, batch["input_ids"])
    return {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}


def mm_token_types(processor, input_ids):
    """0 for text, 1 for image placeholder tokens, 2 for video placeholder tokens."""
    import torch

    types = torch.zeros_like(input_ids, dtype=torch.int32)
    tok = processor.tokenizer
    for value, token in ((1, getattr(processor, "image_token", "<|image_pad|>")),
                         (2, getattr(processor, "video_token", "<|video_pad|>"))):
        token_id = tok.convert_tokens_to_ids(token)
        if token_id is not None:
            types[input_ids == token_id] = value
    return types


def append_responses(batch: Mapping, responses: Sequence[Sequence[int]], pad_token_id: int) -> dict:
    """Append token-id responses to a left-padded prompt batch (same row order).

    Returns a new dict with ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` extended by the
    right-padded responses, the vision tensors unchanged, ``response_mask`` ``[B, R]`` and ``prompt_length``.
    """
    import torch

    prompt_ids = batch["input_ids"]
    bsz, plen = prompt_ids.shape
    if len(responses) != bsz:
        raise ValueError(f"{len(responses)} responses for {bsz} prompts")
    rlen = max((len(r) for r in responses), default=0)
    rlen = max(rlen, 1)
    resp = torch.full((bsz, rlen), pad_token_id, dtype=prompt_ids.dtype)
    mask = torch.zeros((bsz, rlen), dtype=batch["attention_mask"].dtype)
    for i, r in enumerate(responses):
        if len(r):
            resp[i, : len(r)] = torch.as_tensor(list(r), dtype=prompt_ids.dtype)
            mask[i, : len(r)] = 1
    out = dict(batch)
    out["input_ids"] = torch.cat([prompt_ids, resp.to(prompt_ids.device)], dim=1)
    out["attention_mask"] = torch.cat([batch["attention_mask"], mask.to(prompt_ids.device)], dim=1)
    if "mm_token_type_ids" in batch:
        types = batch["mm_token_type_ids"]
        out["mm_token_type_ids"] = torch.cat([types, types.new_zeros((bsz, rlen))], dim=1)
    out["response_mask"] = mask.to(prompt_ids.device)
    out["prompt_length"] = plen
    return out


def select_rows(batch: Mapping, rows: Sequence[int], media_counts: Sequence[tuple[int, int]]) -> dict:
    """The sub-batch of ``rows`` (in that order), with the per-row images and videos carried along.

    ``media_counts[i]`` is ``(n_images, n_videos)`` of row ``i``; vision tensors are concatenated over rows
    in row order, so they are split by grid sizes and regathered.
    """
    import torch

    out: dict[str, Any] = {}
    index = torch.as_tensor(list(rows), dtype=torch.long)
    for key, value in batch.items():
        if key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
            continue
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == len(media_counts):
            out[key] = value.index_select(0, index.to(value.device))
        else:
            out[key] = value
    for slot, (pix_key, grid_key) in enumerate((("pixel_values", "image_grid_thw"),
                                                ("pixel_values_videos", "video_grid_thw"))):
        if grid_key not in batch:
            continue
        grid = batch[grid_key]
        chunks = list(batch[pix_key].split(grid.prod(-1).tolist()))
        starts, pos = [], 0
        for counts in media_counts:
            starts.append(pos)
            pos += counts[slot]
        take = [j for r in rows for j in range(starts[r], starts[r] + media_counts[r][slot])]
        if take:
            out[pix_key] = torch.cat([chunks[j] for j in take])
            out[grid_key] = grid[torch.as_tensor(take, dtype=torch.long)]
    return out


def trim_left_padding(batch: dict) -> dict:
    """Drop leading columns that are padding in every row (after selecting rows from a wider batch)."""
    mask = batch["attention_mask"]
    if mask.shape[1] == 0:
        return batch
    first = int(mask.any(0).float().argmax())
    if first == 0:
        return batch
    out = dict(batch)
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if key in out:
            out[key] = out[key][:, first:]
    return out
