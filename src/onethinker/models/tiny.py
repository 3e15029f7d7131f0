"""A tiny Qwen3-VL built offline: random weights, a locally trained byte-level BPE tokenizer, the stock processor.

Everything a CPU run needs (tests, the quickstart, benchmarks) without a model hub. The saved folder loads
back with ``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained``, exactly like
a published checkpoint, so every code path downstream is the one a real model takes.

Two pitfalls of a random model are handled here:

* the vision tower's output width must equal the text width (``out_hidden_size == hidden_size``);
* a random model happily samples vision placeholders, padding and chat-start tokens, which break the
  re-forward of its own rollouts, so ``generation_config.suppress_tokens`` bans them (the end-of-turn token
  ``<|im_end|>`` stays allowed: it is the EOS).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

# Ids 0..7, in Qwen's order. `<|im_end|>` is the end-of-turn (EOS) token, `<|endoftext|>` the padding.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Plain added tokens: one id each, and they survive ``skip_special_tokens=True`` decoding.
REASONING_TAGS = ("<think>", "</think>", "<answer>", "</answer>")

# Qwen-VL chat layout: a default system turn, media parts as vision placeholders, the assistant header when a
# generation prompt is asked for. Assistant content may be a plain string (SFT targets).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'video' -%}{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny model. The defaults are the 453k-parameter model of the TRL anchor benchmark.

    Attributes:
        vocab_size: BPE vocabulary including the eight special tokens (the four reasoning tags come on top).
        hidden_size: text width; the vision tower projects to it.
        num_layers: text decoder layers.
        num_heads: attention heads; ``head_dim = hidden_size // num_heads``.
        num_kv_heads: key/value heads (grouped-query attention).
        intermediate_size: text MLP width.
        vision_depth: vision transformer blocks.
        vision_hidden_size: vision width.
        vision_heads: vision attention heads.
        vision_intermediate_size: vision MLP width.
        patch_size: vision patch side in pixels; one merged token covers ``(patch_size * 2)**2`` pixels.
        image_min_pixels / image_max_pixels: the processor's pixel budget per image.
        max_position_embeddings: longest sequence.
        merge_words: let BPE merge across word boundaries (numbers stay separate pieces), so text repeated
            in the corpus (prompt templates, reasoning phrases, JSON keys) becomes a few tokens. ``False``
            splits words first, like GPT-2 and the anchor benchmark's tokenizer. Merged phrases fuse content
            with its context (``"orange circle "``, ``"circle\nB. triangle"``), so a model cannot copy a word
            from its prompt or tell a colour from the shape it came with; a model that has to learn its media
            should keep words apart.
        split_digits: one token per digit, as Qwen's tokenizer does, so a coordinate is three digits that each
            mean something (its hundreds digit is where in the image) instead of one of a thousand unrelated tokens.
        prompt_phrases: each fixed sentence of the published prompt (:func:`template_phrases`) is one token: the
            words of a question stay apart, and the boilerplate every prompt repeats costs a few tokens, not a
            hundred.
        image_mean / image_std: the processor's per-channel normalisation (images and video frames); give a
            corpus' own statistics (:func:`pixel_statistics`) so its background maps to about zero.
        vision_init_std: standard deviation of the vision tower's input and output layers (patch embedding,
            position embedding, mergers); its transformer blocks and the text model keep 0.02. A wider init gives
            visual tokens that differ clearly from patch to patch, while the gentle blocks stay close to the
            identity and keep each token about its own place in the image.
        vision_pos_sincos: amplitude of a fixed-pattern initialisation of the vision tower's position table: 2-D
            sines and cosines of the row and the column (as in MAE), which the table then trains from; 0 keeps
            the random init. A position signal as strong as a patch's content (about 8 with
            ``vision_init_std=0.1`` and normalised pixels) lets a visual token carry where it is as well as what
            it shows; at the random init's scale an object's colour drowns its position and a tiny model never
            learns where things are.
    """

    vocab_size: int = 1024
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    num_kv_heads: int = 1
    intermediate_size: int = 128
    vision_depth: int = 1
    vision_hidden_size: int = 64
    vision_heads: int = 2
    vision_intermediate_size: int = 128
    patch_size: int = 16
    image_min_pixels: int = 32 * 32
    image_max_pixels: int = 256 * 256
    max_position_embeddings: int = 8192
    merge_words: bool = False
    split_digits: bool = False
    prompt_phrases: bool = False
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    vision_init_std: float = 0.02
    vision_pos_sincos: float = 0.0


def default_corpus(seed: int = 0, n: int = 3000) -> list[str]:
    """Texts the tokenizer learns from when the caller has none: every published prompt plus answer shapes."""
    from onethinker.tasks import INSTRUCTIONS, QUESTION_TEMPLATE

    rng = random.Random(seed)
    words = (
        "the a an is are what how many which where when who colour color red green blue yellow black white "
        "orange purple gray image video frame object objects shape circle square triangle star left right top "
        "bottom middle count answer question think first then so yes no one two three four five six seven eight "
        "nine ten zero moving moves up down speed fast slow because therefore appears second seconds time box "
        "track segment area size large small bigger smaller describe scene text reads value width height"
    ).split()
    texts = [QUESTION_TEMPLATE.format(question="") + tail for tail in INSTRUCTIONS.values()]
    for _ in range(n):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14))).capitalize() + rng.choice(".?")
        box = sorted(rng.randint(0, 1000) for _ in range(2)) + sorted(rng.randint(0, 1000) for _ in range(2))
        span = sorted(round(rng.uniform(0, 30), 1) for _ in range(2))
        answer = rng.choice([
            rng.choice("ABCD"),
            str(rng.randint(0, 100)),
            f"{rng.uniform(0, 100):.1f}",
            json.dumps({"boxes": [box[0], box[2], box[1], box[3]]}),
            json.dumps({"time": span}),
            " ".join(rng.choice(words) for _ in range(rng.randint(1, 5))),
        ])
        texts.append(f"<think>{sentence}</think><answer>{answer}</answer>")
    return texts


def template_phrases(min_chars: int = 16) -> list[str]:
    """The fixed sentences of the published prompt: the question template's text around ``{question}`` and every
    registered task's instruction, cut at the reasoning tags (already tokens of their own), longest first."""
    import re

    from onethinker.tasks import QUESTION_TEMPLATE, all_tasks

    fixed = [*QUESTION_TEMPLATE.split("{question}"), *(spec.instruction for spec in all_tasks().values())]
    pieces = {piece for text in fixed for piece in re.split(r"</?(?:think|answer)>", text) if len(piece) >= min_chars}
    return sorted(pieces, key=lambda piece: (-len(piece), piece))


def build_tokenizer(texts: Iterable[str] | None = None, *, vocab_size: int = 1024, seed: int = 0,
                    merge_words: bool = False, split_digits: bool = False, phrases: Iterable[str] = ()):
    """Train a byte-level BPE tokenizer with the Qwen chat/vision special tokens and the reasoning tags.

    Args:
        texts: training texts (prompts and responses of your data make answers short); ``None`` uses
            :func:`default_corpus`.
        vocab_size: BPE vocabulary size including the special tokens.
        merge_words: merge across word boundaries (see :class:`TinySpec`).
        split_digits: one token per digit (see :class:`TinySpec`).
        phrases: strings that become one token each wherever they occur (see :func:`template_phrases`).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = list(texts) if texts is not None else default_corpus(seed)
    # The reasoning tags are added tokens, so remove them from the BPE corpus (they would waste merges).
    stripped = [t for text in corpus for t in _split_tags(text)]
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    digits = [pre_tokenizers.Digits(individual_digits=True)] if split_digits else []
    if merge_words:  # numbers stay apart from words; everything between them may merge (up to 24 characters)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=split_digits),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            *digits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        max_token_length=24 if merge_words else None,
    )
    tok.train_from_iterator(stripped, trainer=trainer)
    tok.add_tokens(list(REASONING_TAGS))
    if phrases:
        from tokenizers import AddedToken

        tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in phrases])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=8192,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    hf.chat_template = CHAT_TEMPLATE
    ids = hf.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    if ids != list(range(len(SPECIAL_TOKENS))):  # the config below relies on these ids
        raise RuntimeError(f"special tokens got ids {ids}, expected 0..{len(SPECIAL_TOKENS) - 1}")
    return hf


def _widen_vision_io(model, std: float) -> None:
    import torch

    visual = model.model.visual
    with torch.no_grad():
        for part in (visual.patch_embed, visual.pos_embed, visual.merger, visual.deepstack_merger_list):
            for module in part.modules():
                if isinstance(module, (torch.nn.Linear, torch.nn.Conv3d, torch.nn.Embedding)):
                    module.weight.normal_(0.0, std)


def sincos_position_table(side: int, dim: int, amplitude: float):
    """A ``[side * side, dim]`` table for a row-major ``side x side`` grid: the first half of the channels
    encodes the row, the second the column, each as sines then cosines at ``dim // 4`` frequencies from 1 to
    1/10000 (radians per cell), times ``amplitude``."""
    import torch

    if dim % 4:
        raise ValueError(f"the position table's width {dim} is not a multiple of 4")
    quarter = dim // 4
    freqs = 1.0 / (10000.0 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    rows, cols = torch.meshgrid(torch.arange(side, dtype=torch.float64), torch.arange(side, dtype=torch.float64),
                                indexing="ij")

    def encode(coord):
        angles = coord.reshape(-1, 1) * freqs
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return (torch.cat([encode(rows), encode(cols)], dim=1) * amplitude).float()


def pixel_statistics(corpus: str | Path, *, limit: int = 256) -> tuple[tuple[float, float, float],
                                                                     tuple[float, float, float]]:
    """Per-channel mean and std (0-1 scale) of a corpus' images, for the tiny processor's normalisation.

    Pretrained processors normalise with their training set's statistics; a tiny model trained from scratch
    should too. With the generic 0.5/0.5 a synthetic world's flat background maps to a large constant and the
    objects to small deviations from it, which a randomly initialised vision tower passes on as near-identical
    tokens; standardising per channel makes the background about zero and the objects stand out.
    Reads up to ``limit`` images named by the records of ``corpus`` (JSON/JSONL/parquet; media paths relative
    to its folder). A corpus without images gives the generic (0.5, 0.5).
    """
    import numpy as np
    from PIL import Image

    from onethinker.data import read_records

    path = Path(corpus)
    names = itertools.islice((name for _, record in read_records(path) for name in record.images), limit)
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for name in names:
        pixels = np.asarray(Image.open(path.parent / name).convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255
        total += pixels.sum(0)
        total_sq += (pixels ** 2).sum(0)
        count += len(pixels)
    if not count:
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 1e-6))
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def _split_tags(text: str) -> list[str]:
    import re

    return [part for part in re.split(r"</?(?:think|answer)>", text) if part]


def build_tiny(
    out_dir: str | Path,
    *,
    seed: int = 0,
    texts: Iterable[str] | None = None,
    spec: TinySpec | None = None,
) -> Path:
    """Build and save a random-init tiny Qwen3-VL with its tokenizer and processor into ``out_dir``.

    Args:
        out_dir: destination folder (created).
        seed: seeds the weights and the default tokenizer corpus.
        texts: tokenizer training texts (e.g. the prompts and SFT responses of your corpus).
        spec: model sizes (:class:`TinySpec`; the default is the 453k-parameter anchor model).

    Returns:
        ``out_dir`` as a Path, loadable with ``AutoModelForImageTextToText`` / ``AutoProcessor``.
    """
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    spec = spec or TinySpec()
    if spec.hidden_size % spec.num_heads:
        raise ValueError(f"hidden_size {spec.hidden_size} is not a multiple of num_heads {spec.num_heads}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(texts, vocab_size=spec.vocab_size, seed=seed, merge_words=spec.merge_words,
                                split_digits=spec.split_digits,
                                phrases=template_phrases() if spec.prompt_phrases else ())
    sizes = {"shortest_edge": spec.image_min_pixels, "longest_edge": spec.image_max_pixels}
    common = dict(patch_size=spec.patch_size, merge_size=2, temporal_patch_size=2, size=sizes,
                  image_mean=list(spec.image_mean), image_std=list(spec.image_std))
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(**common),
        video_processor=Qwen3VLVideoProcessor(**common, fps=2, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    head_dim = spec.hidden_size // spec.num_heads
    half = head_dim // 2
    # Multimodal RoPE splits each head's rotary half into (time, height, width) sections.
    mrope = [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]
    ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    config = Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=spec.hidden_size,
            intermediate_size=spec.intermediate_size,
            num_hidden_layers=spec.num_layers,
            num_attention_heads=spec.num_heads,
            num_key_value_heads=spec.num_kv_heads,
            head_dim=head_dim,
            max_position_embeddings=spec.max_position_embeddings,
            pad_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": mrope, "mrope_interleaved": True},
        ),
        vision_config=dict(
            depth=spec.vision_depth,
            hidden_size=spec.vision_hidden_size,
            intermediate_size=spec.vision_intermediate_size,
            num_heads=spec.vision_heads,
            patch_size=spec.patch_size,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=spec.hidden_size,  # must equal the text width
            num_position_embeddings=256,
            deepstack_visual_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    _widen_vision_io(model, spec.vision_init_std)
    if spec.vision_pos_sincos:
        table = model.model.visual.pos_embed.weight
        side = int(round(table.shape[0] ** 0.5))
        with torch.no_grad():
            table.copy_(sincos_position_table(side, table.shape[1], spec.vision_pos_sincos))
    banned = [ids[t] for t in SPECIAL_TOKENS if t != "<|im_end|>"]
    model.generation_config.update(
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=None,
        suppress_tokens=banned, do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    return out
