"""The reward-model judge against a real HTTP server on loopback (a stand-in that scores deterministically).

Covers the wire shapes of vLLM /pooling and SGLang /classify, batching, the concurrency bound,
normalisation on hand-computed groups, and faults where every item still gets a score from the right
source, in its place.
"""

from __future__ import annotations

import math
import socket
import time

import pytest

from onethinker.rewards import JudgeConfig, judge_from_env, score_batch
from onethinker.rewards.judge import JudgeClient, judge_text, normalize_group_scores, reset_clients

from .judge_standin import StandinJudge, standin_score

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 5.0}


@pytest.fixture(autouse=True)
def _fresh_clients():
    reset_clients()
    yield
    reset_clients()


def _open(answer: str, gt: str, *, question: str = "What is shown?", pid=None, ptype="open-ended") -> dict:
    item = {"response": f"<think>t</think><answer>{answer}</answer>", "ground_truth": gt, "problem_type": ptype,
            "data_type": "image", "problem": question}
    if pid is not None:
        item["problem_id"] = pid
    return item


def _captions(n: int) -> list[dict]:
    words = ["red", "circle", "blue", "square", "on", "a", "white", "background", "small", "large"]
    return [_open(" ".join(words[(i + k) % 10] for k in range(1 + i % 5)), "a red circle on a white background",
                  question=f"Describe image {i}.", pid=f"p{i // 4}") for i in range(n)]


def _cfg(url: str, **kw) -> JudgeConfig:
    return JudgeConfig(url=url, model="polar-test", **{**FAST, **kw})


# ------------------------------------------------------------------------------------------ wire shapes
def test_vllm_pooling_request_shape_and_last_element_score():
    items = _captions(3)
    with StandinJudge() as server:
        results = score_batch(items, judge=_cfg(server.url, endpoint="vllm_pooling", normalization="sigmoid"))
    ((path, body),) = server.requests
    assert path == "/pooling"
    assert set(body) == {"model", "input"} and body["model"] == "polar-test"
    gt = "a red circle on a white background"
    assert body["input"][0] == f"Describe image 0.\n{gt}<|reward|>Describe image 0.\nred[UNUSED_TOKEN_130]"
    assert body["input"] == [judge_text(it["problem"], gt, it["response"].split("<answer>")[1][:-9]) for it in items]
    for text, r in zip(body["input"], results):
        # the stand-in returns [0, -1, score] per text: the client takes the last element
        assert r["accuracy_source"] == "judge" and r["judge_score"] == standin_score(text)
        assert r["accuracy"] == pytest.approx(1 / (1 + math.exp(-standin_score(text))))


def test_sglang_classify_request_shape():
    items = _captions(2)
    with StandinJudge() as server:
        results = score_batch(items, judge=_cfg(server.url, endpoint="sglang_classify", normalization="sigmoid"))
    ((path, body),) = server.requests
    assert path == "/classify" and set(body) == {"model", "text"} and len(body["text"]) == 2
    assert [r["judge_score"] for r in results] == [standin_score(t) for t in body["text"]]


def test_only_tasks_the_registry_marks_judged_are_sent():
    mc = {"response": "<think>t</think><answer>B</answer>", "ground_truth": "B", "problem_type": "multiple choice",
          "data_type": "image"}
    caption = _open("a red circle", "a red circle", ptype="captioning")
    empty = _open("", "a red circle")
    items = [mc, _open("a red circle", "a blue square"), caption, empty]
    with StandinJudge() as server:
        results = score_batch(items, judge=_cfg(server.url, normalization="sigmoid"))
    (_, body), = server.requests
    assert len(body["input"]) == 2  # open-ended and captioning; the empty answer is not shown to the judge
    plain = score_batch(items)
    assert results[0] == plain[0] and "accuracy_source" not in results[0]
    assert results[3] == plain[3] and results[3]["accuracy"] == 0.0
    assert results[1]["accuracy_source"] == results[2]["accuracy_source"] == "judge"
    assert results.judge_stats.judged == 2 and results.judge_stats.fallback == 0


# ------------------------------------------------------------------------------------------ batching, concurrency
def test_batches_of_batch_size_keep_every_item_in_order():
    items = _captions(150)
    with StandinJudge() as server:
        results = score_batch(items, judge=_cfg(server.url, batch_size=64, concurrency=3, normalization="sigmoid"))
    sizes = sorted(len(body["input"]) for _, body in server.requests)
    assert sizes == [22, 64, 64]
    sent = {body["input"][0]: body["input"] for _, body in server.requests}
    texts = [t for first in sorted(sent, key=lambda t: int(t.split()[2].rstrip("."))) for t in sent[first]]
    assert len(texts) == 150
    assert [r["judge_score"] for r in results] == [standin_score(t) for t in texts]
    assert [t.split("\n")[0] for t in texts] == [f"Describe image {i}." for i in range(150)]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_requests_in_flight_never_exceed_the_concurrency_bound(concurrency):
    items = _captions(12)
    with StandinJudge(delay_s=0.15) as server:
        results = score_batch(items, judge=_cfg(server.url, batch_size=1, concurrency=concurrency))
    assert len(server.requests) == 12 and results.judge_stats.judged == 12
    assert server.max_in_flight <= concurrency
    assert server.max_in_flight > concurrency // 2  # and the bound is actually used


# ------------------------------------------------------------------------------------------ normalisation
def test_group_normalisation_on_hand_computed_groups():
    # Groups interleaved: membership comes from problem_id, not adjacency.
    spec = [("A", 1), ("B", 7), ("A", 2), ("C", -3), ("B", 7), ("A", 4)]
    items = [_open(f"SCORE={s}", "ref", pid=g) for g, s in spec]
    with StandinJudge() as server:
        results = score_batch(items, judge=_cfg(server.url, normalization="group"))
    acc = [r["accuracy"] for r in results]
    # A: raw 1, 2, 4 -> z-score then min-max -> 0, 1/3, 1. B: equal scores -> 1.0 each. C: one member -> 1.0.
    assert acc == pytest.approx([0.0, 1.0, 1 / 3, 1.0, 1.0, 1.0], abs=1e-6)
    assert [r["judge_score"] for r in results] == [1.0, 7.0, 2.0, -3.0, 7.0, 4.0]
    assert results[0]["overall"] == pytest.approx(0.9 * 0.0 + 0.1 + 0.5)
    assert results[5]["overall"] == pytest.approx(0.9 * 1.0 + 0.1 + 0.5)
    assert "judge scored it lowest" in results[0]["reason"]


def test_sigmoid_mode_maps_each_raw_score_alone():
    items = [_open(f"SCORE={s}", "ref", pid="same") for s in (2, 0, 7, 7)]
    with StandinJudge() as server:
        plain = score_batch(items, judge=_cfg(server.url, normalization="sigmoid"))
        scaled = score_batch(items, judge=_cfg(server.url, normalization="sigmoid", sigmoid_scale=2.0))
    assert [r["accuracy"] for r in plain] == pytest.approx([0.8807970779778823, 0.5, 0.9990889488055994] + [
        0.9990889488055994])
    assert scaled[0]["accuracy"] == pytest.approx(0.7310585786300049)  # sigmoid(2 / 2)


def test_normalize_group_scores_values():
    assert normalize_group_scores([3.0, 1.0, 2.0, 5.0, 5.0], ["x", "x", "x", "y", "y"]) == pytest.approx(
        [1.0, 0.0, 0.5, 1.0, 1.0], abs=1e-6)


# ------------------------------------------------------------------------------------------ faults
def _dead_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


FAULTS = {
    "http_500": ({"status": 500}, {"retries": 3}),
    "timeout": ({"delay_s": 0.6}, {"retries": 2, "timeout_s": 0.15}),
    "malformed_json": ({"malformed": True}, {"retries": 2}),
    "dead_port": (None, {"retries": 2}),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_judge_falls_back_to_rouge_for_every_item_in_place(fault):
    server_kw, cfg_kw = FAULTS[fault]
    mc = {"response": "<think>t</think><answer>C</answer>", "ground_truth": "C", "problem_type": "multiple choice",
          "data_type": "video"}
    items = _captions(9)
    items.insert(4, mc)
    server = StandinJudge(**server_kw) if server_kw is not None else None
    url = server.url if server else _dead_port_url()
    try:
        t0 = time.perf_counter()
        results = score_batch(items, judge=_cfg(url, batch_size=4, concurrency=2, normalization="sigmoid",
                                                breaker_failures=100, **cfg_kw))
        elapsed = time.perf_counter() - t0
    finally:
        if server:
            server.close()
    plain = score_batch(items)
    assert len(results) == len(items)
    for i, (r, p) in enumerate(zip(results, plain)):
        assert r["accuracy"] == p["accuracy"] and r["overall"] == p["overall"], i  # the rule-based score, in place
        if i == 4:
            assert "accuracy_source" not in r
        else:
            assert r["accuracy_source"] == "rouge_fallback" and "judge_score" not in r
    stats = results.judge_stats
    assert (stats.judged, stats.fallback, stats.failed_batches) == (0, 9, 3)
    assert stats.requests == 3 * cfg_kw["retries"]  # every batch used all its attempts
    if server:
        assert len(server.requests) == stats.requests
    assert elapsed < 5


def test_a_server_that_dies_mid_batch_leaves_judged_and_fallback_items_in_place():
    items = _captions(20)
    with StandinJudge(die_after=2) as server:
        results = score_batch(items, judge=_cfg(server.url, batch_size=4, concurrency=1, retries=2,
                                                normalization="sigmoid", breaker_failures=100))
    plain = score_batch(items)
    assert [r["accuracy_source"] for r in results] == ["judge"] * 8 + ["rouge_fallback"] * 12
    for r, p in zip(results[8:], plain[8:]):
        assert r["accuracy"] == p["accuracy"]
    assert results.judge_stats.judged == 8 and results.judge_stats.fallback == 12
    assert results.judge_stats.judged_share == pytest.approx(0.4)


def test_retries_with_backoff_recover_from_transient_500s():
    items = _captions(4)
    with StandinJudge(fail_first=2) as server:
        results = score_batch(items, judge=_cfg(server.url, retries=3, normalization="sigmoid"))
    assert len(server.requests) == 3
    assert all(r["accuracy_source"] == "judge" for r in results)
    assert results.judge_stats.requests == 3 and results.judge_stats.failed_batches == 0


def test_a_client_error_is_not_retried():
    items = _captions(8)
    with StandinJudge(status=400) as server:
        results = score_batch(items, judge=_cfg(server.url, batch_size=4, retries=5, concurrency=1,
                                                breaker_failures=1, normalization="sigmoid"))
    # One attempt per batch: a 400 will not get better. The server answered, so the breaker stays closed.
    assert len(server.requests) == 2
    assert all(r["accuracy_source"] == "rouge_fallback" for r in results)


def test_group_mode_never_mixes_model_scores_and_rouge_in_one_group():
    # Two batches of one group: the first is judged, the second falls back (the server dies after one request).
    items = [_open(f"SCORE={s}", "a red circle", pid="g") for s in (1, 3)]
    items += [_open("a red", "a red circle", pid="g"), _open("blue", "a red circle", pid="g")]
    with StandinJudge(die_after=1) as server:
        results = score_batch(items, judge=_cfg(server.url, batch_size=2, concurrency=1, retries=1,
                                                normalization="group", breaker_failures=100))
    assert [r["accuracy_source"] for r in results] == ["judge", "judge", "rouge_fallback", "rouge_fallback"]
    # Each source is min-maxed on its own: judged 1, 3 -> 0, 1; ROUGE "a red" > "blue" -> 1, 0.
    assert [r["accuracy"] for r in results] == pytest.approx([0.0, 1.0, 1.0, 0.0], abs=1e-6)


def test_the_circuit_breaker_stops_sending_then_probes_after_its_cooldown():
    items = _captions(10)
    with StandinJudge(status=500) as server:
        client = JudgeClient(_cfg(server.url, batch_size=1, concurrency=1, retries=8, breaker_failures=3,
                                  breaker_cooldown_s=0.5, normalization="sigmoid"))
        first = score_batch(items, judge=client)
        assert len(server.requests) == 3  # three failures open the breaker; nothing more is sent
        assert first.judge_stats.fallback == 10 and first.judge_stats.skipped_batches == 9
        second = score_batch(items, judge=client)
        assert len(server.requests) == 3 and second.judge_stats.requests == 0  # still open
        server.status = None  # the server recovers
        time.sleep(0.6)
        third = score_batch(items, judge=client)
        client.close()
    assert len(server.requests) == 3 + 10  # one probe closed the breaker, then every batch went through
    assert all(r["accuracy_source"] == "judge" for r in third)


# ------------------------------------------------------------------------------------------ configuration
def test_judge_from_env_reads_every_field_and_is_off_without_a_url():
    assert judge_from_env({}) is None
    assert judge_from_env({"ONETHINKER_JUDGE_URL": ""}) is None
    cfg = judge_from_env({"ONETHINKER_JUDGE_URL": "http://10.0.0.1:8000", "ONETHINKER_JUDGE_ENDPOINT":
                          "sglang_classify", "ONETHINKER_JUDGE_BATCH_SIZE": "32", "ONETHINKER_JUDGE_TIMEOUT_S": "5",
                          "ONETHINKER_JUDGE_NORMALIZATION": "sigmoid"})
    assert (cfg.url, cfg.endpoint, cfg.batch_size, cfg.timeout_s, cfg.normalization) == (
        "http://10.0.0.1:8000", "sglang_classify", 32, 5.0, "sigmoid")
    with pytest.raises(ValueError, match="ONETHINKER_JUDGE_BATCH_SIZE='many'"):
        judge_from_env({"ONETHINKER_JUDGE_URL": "http://x:1", "ONETHINKER_JUDGE_BATCH_SIZE": "many"})
    with pytest.raises(ValueError, match="judge.endpoint"):
        judge_from_env({"ONETHINKER_JUDGE_URL": "http://x:1", "ONETHINKER_JUDGE_ENDPOINT": "openai"})


def test_a_config_without_url_keeps_rule_based_scores():
    items = _captions(3)
    results = score_batch(items, judge=JudgeConfig())
    assert results == score_batch(items) and not results.judge_stats.metrics()


# ------------------------------------------------------------------------------------------ CLI
def test_reward_score_cli_judges_with_the_given_server(tmp_path):
    import json

    from typer.testing import CliRunner

    from onethinker.cli import app

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    items = [_open(f"SCORE={s}", "ref", pid="g1") for s in (1, 3)] + _captions(3)
    src.write_text("".join(json.dumps(it) + "\n" for it in items), encoding="utf-8")
    with StandinJudge() as server:
        result = CliRunner().invoke(app, ["reward", "score", str(src), "-o", str(out), "--judge-url", server.url,
                                          "--judge-endpoint", "sglang_classify", "--judge-batch-size", "2",
                                          "--judge-model", "polar-cli"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line)["reward"] for line in out.read_text().splitlines()]
    assert [r["accuracy"] for r in rows[:2]] == pytest.approx([0.0, 1.0], abs=1e-6)
    assert all(r["accuracy_source"] == "judge" for r in rows)
    assert sorted(len(b["text"]) for _, b in server.requests) == [1, 2, 2]
    assert {b["model"] for _, b in server.requests} == {"polar-cli"}
    assert "judge: 5 judged, 0 rouge_fallback" in result.output


def test_reward_score_cli_rejects_a_bad_judge_option(tmp_path):
    from typer.testing import CliRunner

    from onethinker.cli import app

    src = tmp_path / "in.jsonl"
    src.write_text("{}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["reward", "score", str(src), "-o", str(tmp_path / "o.jsonl"),
                                      "--judge-url", "http://127.0.0.1:9", "--judge-endpoint", "openai"])
    assert result.exit_code == 2 and "--judge-endpoint: must be one of vllm_pooling, sglang_classify" in result.output


def test_reward_score_cli_keeps_a_problem_id_group_in_one_chunk(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from onethinker.cli import app
    from onethinker.rewards import cli as reward_cli

    monkeypatch.setattr(reward_cli, "_CHUNK", 2)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    items = [_open(f"SCORE={s}", "ref", pid="g1") for s in (1, 2, 3)] + [_open(f"SCORE={s}", "ref", pid="g2")
                                                                         for s in (5, 9)]
    src.write_text("".join(json.dumps(it) + "\n" for it in items), encoding="utf-8")
    with StandinJudge() as server:
        result = CliRunner().invoke(app, ["reward", "score", str(src), "-o", str(out), "--judge-url", server.url])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line)["reward"] for line in out.read_text().splitlines()]
    assert [r["accuracy"] for r in rows] == pytest.approx([0.0, 0.5, 1.0, 0.0, 1.0], abs=1e-6)


# ------------------------------------------------------------------------------------------ response parsing
def test_any_json_body_parses_to_scores_or_a_judge_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from onethinker.rewards.judge import JudgeError, _parse_classify, _parse_pooling

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "index", "embedding", "object", "x"]), inner, max_size=4), max_leaves=20)

    @settings(max_examples=300, deadline=None)
    @given(json_values, st.integers(min_value=1, max_value=3))
    def check(body, n):
        for parse in (_parse_pooling, _parse_classify):
            try:
                scores = parse(body, n)
            except JudgeError:
                continue
            assert len(scores) == n and all(isinstance(s, float) for s in scores)

    check()
