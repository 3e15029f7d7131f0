"""Chat messages: the exact published prompt for every task, media parts where the placeholders stand."""

from __future__ import annotations

import pytest

from onethinker.data import Record, build_messages

TEMPLATE_MIDDLE = (
    "Please answer this question based on the visual content.Provide your thinking process between the <think> "
    "and </think> tags, and then give your final answer between the <answer> and </answer> tags.At the end, you "
    "must output the final answer in the format:\n<answer><your_answer_here></answer>\n"
)

# (problem_type, data_type, answer, the published instruction's last line for that task)
TASKS = [
    ("multiple choice", "image", "A", "Example:\n<answer>A</answer>"),
    ("numerical", "video", "3", "Example:\n<answer>3.14</answer>"),
    ("regression", "video", "4.2", "Example:\n<answer>42.7</answer>"),
    ("OCR", "image", "EXIT", "Example:\n<answer>Hello World</answer>"),
    ("math", "image", "2", "Example:\n<answer>$$-\\dfrac{3}{2}$$</answer>"),
    ("open-ended", "video", "a dog", "Example:\n<answer>The capital of France is Paris.</answer>"),
    ("temporal grounding", "video", '{"time": [1, 2]}', 'Example:\n<answer>{"time": [12.3, 25.7]}</answer>'),
    ("spatial grounding", "image", '{"boxes": [1, 2, 3, 4]}',
     'Example:\n<answer>{"boxes": [35, 227, 437, 932]}</answer>'),
    ("spatial-temporal grounding", "video", '{"time": [1, 2], "boxes": {"1": [1, 2, 3, 4]}}',
     "its value must be a 4-number bounding box [x1, y1, x2, y2]."),
    ("tracking", "video", '{"boxes": {"1": [1, 2, 3, 4]}}',
     "contain a 4-number bounding box [x1, y1, x2, y2]."),
    ("segmentation", "image", "{}",
     '"negative_points": [[x,y],[x,y],[x,y]]}</answer>'),
    ("segmentation", "video", "{}",
     '<answer>{"time": <time_in_seconds>, "boxes": [x1, y1, x2, y2], "positive_points": [[x,y],[x,y],[x,y]], '
     '"negative_points": [[x,y],[x,y],[x,y]]}</answer>'),
]


def make(problem_type, data_type, answer="A", problem="<image>What is it?", **extra):
    media = {"images": ["m/a.png"]} if data_type == "image" else {"videos": ["m/v.mp4"]}
    return Record.model_validate({"problem": problem, "problem_type": problem_type, "data_type": data_type,
                                  "answer": answer, **media, **extra})


@pytest.mark.parametrize(("problem_type", "data_type", "answer", "tail"), TASKS)
def test_prompt_for_every_task_is_question_template_then_instruction(problem_type, data_type, answer, tail):
    placeholder = "<image>" if data_type == "image" else "<video>"
    options = ["A. red", "B. blue"] if problem_type == "multiple choice" else None
    record = make(problem_type, data_type, answer, problem=f"{placeholder}Q?", options=options)
    [message] = build_messages(record, "/data")
    assert message["role"] == "user"
    media_part, text_part = message["content"]
    assert media_part == ({"type": "image", "image": "/data/m/a.png"} if data_type == "image"
                          else {"type": "video", "video": "/data/m/v.mp4"})
    text = text_part["text"]
    question = "Q?\nOptions:\nA. red\nB. blue\n" if options else "Q?\n"
    assert text.startswith(question + TEMPLATE_MIDDLE)
    assert text.endswith(tail)
    assert "<image>" not in text and "<video>" not in text


def test_segmentation_instruction_depends_on_the_modality():
    image_text = build_messages(make("segmentation", "image", "{}"))[0]["content"][1]["text"]
    video_text = build_messages(make("segmentation", "video", "{}", problem="<video>Q"))[0]["content"][1]["text"]
    assert "ONE representative time" in video_text and "ONE representative time" not in image_text


def test_options_only_for_multiple_choice():
    text = build_messages(make("OCR", "image", "x", options=["A. no"]))[0]["content"][1]["text"]
    assert "Options:" not in text


def test_placeholders_become_parts_where_they_stand():
    record = Record.model_validate({
        "problem": "Compare <image> with <image> please.", "problem_type": "OCR", "data_type": "image",
        "answer": "x", "images": ["one.png", "/abs/two.png"],
    })
    content = build_messages(record, "root")[0]["content"]
    kinds = [part["type"] for part in content]
    assert kinds == ["text", "image", "text", "image", "text"]
    assert content[0]["text"] == "Compare "
    assert content[1]["image"].endswith("root/one.png") and content[1]["image"].startswith("/")
    assert content[3]["image"] == "/abs/two.png"
    assert content[4]["text"].startswith(" please.\n")


def test_media_without_placeholder_go_first():
    record = make("numerical", "video", "3", problem="How many?")
    content = build_messages(record, "/r")[0]["content"]
    assert content[0] == {"type": "video", "video": "/r/m/v.mp4"}
    assert content[1]["type"] == "text" and content[1]["text"].startswith("How many?\n")


def test_more_placeholders_than_media_is_an_error():
    record = make("OCR", "image", "x", problem="<image> and <image>")
    with pytest.raises(ValueError, match="2 <image> placeholder"):
        build_messages(record)
