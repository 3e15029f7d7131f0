"""Model-judged accuracy for open-ended answers and captions: a client for a reward model served over HTTP.

The published OneThinker recipe scores open-ended QA and captioning with POLAR-7B, served separately, and
keeps ROUGE as the fallback. This module is that client, with the faults of a remote server handled:

* **text layout** (POLAR's, as the published code builds it)::

      question + "\\n" + reference + "<|reward|>" + question + "\\n" + answer + "[UNUSED_TOKEN_130]"

* **endpoints**: ``vllm_pooling`` POSTs ``{"model": ..., "input": [text, ...]}`` to ``{url}/pooling`` and
  reads ``data[i].data``, taking the last number of each returned vector (a reward model's per-token
  output ends with the score of the reward token); ``sglang_classify`` POSTs ``{"model": ..., "text":
  [text, ...]}`` to SGLang's native ``{url}/classify`` (its reward-model endpoint) and reads
  ``[{"embedding": [score, ...]}, ...]``, taking the first number. Results are put back in request order
  by their ``index`` when the server sends one.
* **batching and concurrency**: texts go in batches of ``batch_size``; at most ``concurrency`` requests are
  in flight at once (a thread pool over one pooled ``httpx.Client``).
* **faults**: each request has a ``timeout_s``; a failed attempt (connection error, timeout, HTTP 5xx /
  408 / 429, a body that is not the expected JSON, a wrong number of scores, a non-finite score) is retried
  up to ``retries`` attempts in all, sleeping ``uniform(0, min(backoff_max_s, backoff_s * 2**k))``
  between attempts (exponential backoff with full jitter). Other 4xx answers are not retried (and, since
  the server answered, do not count against it). A circuit breaker opens after ``breaker_failures``
  consecutive failed attempts; while open, batches are not sent
  at all; after ``breaker_cooldown_s`` one probe request is let through (half-open) and its outcome
  closes or re-opens it. A batch that still fails is scored by the task's own rule-based accuracy (ROUGE
  for open-ended and captioning), and its items say so.
* **normalisation** (``normalization``): ``group`` is the published per-``problem_id`` mapping (z-score,
  then min-max to [0, 1]; a group whose scores are all equal gives 1.0 to every member, so the best of a
  group of wrong answers scores 1); ``sigmoid`` maps each raw score alone to ``1 / (1 + exp(-score /
  sigmoid_scale))``, with no group effect. See docs/rewards.md.

Every item keeps its place; each judged item's reward says where its accuracy came from
(``accuracy_source``: ``judge`` or ``rouge_fallback``), and :class:`JudgeStats` counts both.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ENDPOINTS",
    "JudgeClient",
    "JudgeConfig",
    "JudgeError",
    "JudgeStats",
    "judge_from_env",
    "judge_text",
    "normalize_group_scores",
    "sigmoid_scores",
]

ENDPOINTS = {"vllm_pooling": "/pooling", "sglang_classify": "/classify"}
SOURCE_JUDGE = "judge"
SOURCE_FALLBACK = "rouge_fallback"


@dataclass
class JudgeConfig:
    """Where and how to reach the reward-model judge (the RL config's ``judge`` section).

    Attributes:
        url: base URL of the server, e.g. ``http://127.0.0.1:8000`` (``null`` = no judge: rule-based
            accuracy for every task, as before).
        model: the served model name sent with each request (published: ``internlm/POLAR-7B``).
        endpoint: ``vllm_pooling`` (``POST {url}/pooling``) or ``sglang_classify`` (``POST {url}/classify``).
        batch_size: texts per request (published: 64).
        concurrency: requests in flight at once.
        timeout_s: per-request timeout in seconds (published: 30).
        retries: attempts per batch, the first one included (published: 8).
        backoff_s, backoff_max_s: exponential backoff base and cap between attempts (full jitter).
        breaker_failures: consecutive failed attempts that open the circuit breaker.
        breaker_cooldown_s: how long the breaker stays open before one probe request is let through.
        normalization: ``group`` (published: per ``problem_id`` z-score then min-max; a zero-spread group
            scores 1.0) or ``sigmoid`` (each raw score alone through ``sigmoid(score / sigmoid_scale)``).
        sigmoid_scale: divisor of the raw score in the ``sigmoid`` mapping.
    """

    url: str | None = None
    model: str = "internlm/POLAR-7B"
    endpoint: Literal["vllm_pooling", "sglang_classify"] = "vllm_pooling"
    batch_size: int = 64
    concurrency: int = 8
    timeout_s: float = 30.0
    retries: int = 8
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    normalization: Literal["group", "sigmoid"] = "group"
    sigmoid_scale: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every bad value; empty when the config is usable."""
        out = []
        if self.url is not None and self.url and not self.url.startswith(("http://", "https://")):
            out.append(("url", f"must start with http:// or https://, got {self.url!r}"))
        if self.endpoint not in ENDPOINTS:
            out.append(("endpoint", f"must be one of {', '.join(ENDPOINTS)}, got {self.endpoint!r}"))
        if self.normalization not in ("group", "sigmoid"):
            out.append(("normalization", f"must be group or sigmoid, got {self.normalization!r}"))
        for name in ("batch_size", "concurrency", "retries"):
            if getattr(self, name) < 1:
                out.append((name, f"must be >= 1, got {getattr(self, name)}"))
        for name in ("timeout_s", "sigmoid_scale"):
            if not getattr(self, name) > 0:
                out.append((name, f"must be > 0, got {getattr(self, name)}"))
        for name in ("backoff_s", "backoff_max_s", "breaker_cooldown_s"):
            if getattr(self, name) < 0:
                out.append((name, f"must be >= 0, got {getattr(self, name)}"))
        if self.breaker_failures < 1:
            out.append(("breaker_failures", f"must be >= 1, got {self.breaker_failures}"))
        return out

    def validate(self) -> "JudgeConfig":
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(f"judge.{k}: {v}" for k, v in problems))
        return self


_ENV_FIELDS = {f.name: f"ONETHINKER_JUDGE_{f.name.upper()}" for f in dataclasses.fields(JudgeConfig)}


def judge_from_env(environ: dict[str, str] | None = None) -> JudgeConfig | None:
    """A :class:`JudgeConfig` from ``ONETHINKER_JUDGE_*`` environment variables, or ``None`` when
    ``ONETHINKER_JUDGE_URL`` is unset or empty (judge off).

    For reward functions that cannot take arguments (veRL, TRL): ``score_batch(items,
    judge=judge_from_env())``. Every field of :class:`JudgeConfig` has a variable named
    ``ONETHINKER_JUDGE_<FIELD>`` (``ONETHINKER_JUDGE_MODEL``, ``..._ENDPOINT``, ``..._BATCH_SIZE``, ...).
    """
    env = os.environ if environ is None else environ
    if not env.get(_ENV_FIELDS["url"]):
        return None
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(JudgeConfig):
        raw = env.get(_ENV_FIELDS[f.name])
        if raw is None or raw == "":
            continue
        default = getattr(JudgeConfig, f.name, None)
        try:
            if isinstance(default, bool):
                value: Any = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                value = int(raw)
            elif isinstance(default, float):
                value = float(raw)
            else:
                value = raw
        except ValueError:
            raise ValueError(f"{_ENV_FIELDS[f.name]}={raw!r}: expected a number") from None
        kwargs[f.name] = value
    return JudgeConfig(**kwargs).validate()


def judge_text(question: str, reference: str, answer: str) -> str:
    """The text the reward model scores for one (question, reference, answer): POLAR's layout."""
    return f"{question}\n{reference}<|reward|>{question}\n{answer}[UNUSED_TOKEN_130]"


# ------------------------------------------------------------------------------------------ normalisation
def normalize_group_scores(scores: Sequence[float], groups: Sequence[Any]) -> list[float]:
    """The published per-group mapping to [0, 1]: z-score within each group, then min-max.

    ``z = (s - mean) / (std + 1e-6)``, then ``(z - min z) / (max z - min z + 1e-12)`` (population std, as
    the published numpy code). A group whose scores are all equal (a group of one included) gives 1.0 to
    every member. Min-max after a z-score equals min-max of the raw scores up to the epsilons.
    """
    members: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out = [0.0] * len(scores)
    for idx in members.values():
        vals = [float(scores[i]) for i in idx]
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
        if std == 0.0:
            for i in idx:
                out[i] = 1.0
            continue
        z = [(v - mean) / (std + 1e-6) for v in vals]
        lo, hi = min(z), max(z)
        for i, zi in zip(idx, z):
            out[i] = min(1.0, max(0.0, (zi - lo) / (hi - lo + 1e-12)))
    return out


def sigmoid_scores(scores: Sequence[float], scale: float = 1.0) -> list[float]:
    """Each raw score alone to (0, 1): ``1 / (1 + exp(-score / scale))`` (no group effect)."""
    out = []
    for s in scores:
        x = float(s) / scale
        out.append(1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x)))
    return out


# ------------------------------------------------------------------------------------------ stats
@dataclass
class JudgeStats:
    """What the judge did for one ``score_batch`` call (add them up over a step with ``+``).

    ``judged`` items got a model score, ``fallback`` items the rule-based (ROUGE) one; ``requests`` counts
    HTTP attempts, ``failed_batches`` batches that fell back, ``skipped_batches`` those the open breaker
    never sent, ``latency_s`` the wall time spent judging.
    """

    enabled: bool = False
    judged: int = 0
    fallback: int = 0
    requests: int = 0
    failed_batches: int = 0
    skipped_batches: int = 0
    latency_s: float = 0.0

    def __add__(self, other: "JudgeStats | None") -> "JudgeStats":
        if other is None:
            return self
        return JudgeStats(self.enabled or other.enabled, self.judged + other.judged, self.fallback + other.fallback,
                          self.requests + other.requests, self.failed_batches + other.failed_batches,
                          self.skipped_batches + other.skipped_batches, self.latency_s + other.latency_s)

    @property
    def judged_share(self) -> float:
        total = self.judged + self.fallback
        return self.judged / total if total else 0.0

    def metrics(self, prefix: str = "judge/") -> dict[str, float]:
        """Per-step metrics (empty when no judge is configured)."""
        if not self.enabled:
            return {}
        return {f"{prefix}latency_s": self.latency_s, f"{prefix}judged": self.judged,
                f"{prefix}fallback": self.fallback, f"{prefix}judged_share": self.judged_share,
                f"{prefix}requests": self.requests, f"{prefix}failed_batches": self.failed_batches}


class JudgeError(RuntimeError):
    """One failed attempt; ``retryable`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


# ------------------------------------------------------------------------------------------ breaker
class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures -> half-open (one probe) after ``cooldown_s``."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def allow(self) -> bool:
        """Whether a request may be sent now (claims the single probe slot when half-open)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self.clock() - self._opened_at < self.cooldown_s:
                return False
            self._probing = True
            return True

    def record(self, ok: bool) -> None:
        with self._lock:
            self._probing = False
            if ok:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.threshold:
                self._opened_at = self.clock()  # (re-)open; a failed probe restarts the cooldown


# ------------------------------------------------------------------------------------------ client
def _last_number(value: Any) -> float:
    """The last number of a (possibly nested) list, or the number itself."""
    while isinstance(value, list):
        if not value:
            raise JudgeError("an empty score vector")
        value = value[-1]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JudgeError(f"a score that is not a number: {value!r}")
    return float(value)


def _parse_pooling(body: Any, n: int) -> list[float]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise JudgeError("pooling response has no 'data' list")
    if all(isinstance(d, dict) and isinstance(d.get("index"), int) for d in data):
        data = sorted(data, key=lambda d: d["index"])
    scores = []
    for d in data:
        if not isinstance(d, dict) or "data" not in d:
            raise JudgeError("pooling response item has no 'data'")
        scores.append(_last_number(d["data"]))
    if len(scores) != n:
        raise JudgeError(f"pooling response has {len(scores)} scores for {n} inputs")
    return scores


def _parse_classify(body: Any, n: int) -> list[float]:
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) and "embedding" in body else None
    if items is None:
        raise JudgeError("classify response is not a list of {'embedding': [...]}")
    if all(isinstance(d, dict) and isinstance(d.get("index"), int) for d in items):
        items = sorted(items, key=lambda d: d["index"])
    scores = []
    for d in items:
        emb = d.get("embedding") if isinstance(d, dict) else None
        if not isinstance(emb, list) or not emb:
            raise JudgeError("classify response item has no 'embedding' list")
        first = emb[0]
        if isinstance(first, bool) or not isinstance(first, (int, float)):
            raise JudgeError(f"a score that is not a number: {first!r}")
        scores.append(float(first))
    if len(scores) != n:
        raise JudgeError(f"classify response has {len(scores)} scores for {n} inputs")
    return scores


class JudgeClient:
    """Scores texts with the configured server; thread-safe; keeps its connection pool and breaker.

    ``score(texts)`` returns ``(scores, ok, stats)``: ``scores[i]`` is the raw model score when ``ok[i]``,
    else ``None`` (the caller falls back for those items).
    """

    def __init__(self, config: JudgeConfig, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        import httpx

        self.config = config.validate()
        if not config.enabled:
            raise ValueError("judge.url is not set")
        self.url = config.url.rstrip("/") + ENDPOINTS[config.endpoint]
        self._parse = _parse_pooling if config.endpoint == "vllm_pooling" else _parse_classify
        self._text_key = "input" if config.endpoint == "vllm_pooling" else "text"
        limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
        # trust_env=False: a proxy from the environment must not sit between us and a local judge.
        self._http = httpx.Client(timeout=config.timeout_s, limits=limits, trust_env=False)
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _post(self, texts: list[str]) -> list[float]:
        import httpx

        try:
            response = self._http.post(self.url, json={"model": self.config.model, self._text_key: texts})
        except httpx.TimeoutException as err:
            raise JudgeError(f"timed out after {self.config.timeout_s} s ({type(err).__name__})") from None
        except httpx.HTTPError as err:
            raise JudgeError(f"{type(err).__name__}: {err}") from None
        status = response.status_code
        if status >= 400:
            retryable = status >= 500 or status in (408, 429)
            raise JudgeError(f"HTTP {status}: {response.text[:200]}", retryable=retryable)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise JudgeError(f"not JSON: {err}") from None
        scores = self._parse(body, len(texts))
        if not all(math.isfinite(s) for s in scores):
            raise JudgeError("a score is not finite")
        return scores

    def _backoff(self, attempt: int) -> float:
        cap = min(self.config.backoff_max_s, self.config.backoff_s * (2 ** attempt))
        with self._rng_lock:
            return self._rng.uniform(0.0, cap)

    def score_one_batch(self, texts: list[str]) -> tuple[list[float] | None, int, bool, str | None]:
        """(scores or None, attempts made, skipped by the open breaker, last error)."""
        attempts, last_error = 0, None
        for attempt in range(self.config.retries):
            if not self.breaker.allow():
                return None, attempts, attempts == 0, last_error or "circuit breaker open"
            attempts += 1
            try:
                scores = self._post(texts)
            except JudgeError as err:
                # A non-retryable answer (a 4xx such as an over-long input) still shows the server is up.
                self.breaker.record(not err.retryable)
                last_error = str(err)
                if not err.retryable or attempt + 1 == self.config.retries:
                    break
                self._sleep(self._backoff(attempt))
                continue
            self.breaker.record(True)
            return scores, attempts, False, None
        return None, attempts, False, last_error

    def score(self, texts: Sequence[str]) -> tuple[list[float | None], list[bool], JudgeStats, list[str]]:
        """Raw scores for ``texts`` (in order), which of them the judge scored, stats and error messages."""
        t0 = time.perf_counter()
        bs = self.config.batch_size
        batches = [list(texts[i : i + bs]) for i in range(0, len(texts), bs)]
        stats = JudgeStats(enabled=True)
        scores: list[float | None] = [None] * len(texts)
        ok = [False] * len(texts)
        errors: list[str] = []
        if batches:
            workers = min(self.config.concurrency, len(batches))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
                results = list(pool.map(self.score_one_batch, batches))
            for b, (batch_scores, attempts, skipped, error) in enumerate(results):
                stats.requests += attempts
                if batch_scores is None:
                    stats.failed_batches += 1
                    stats.skipped_batches += int(skipped)
                    if error:
                        errors.append(error)
                    continue
                for j, s in enumerate(batch_scores):
                    scores[b * bs + j] = s
                    ok[b * bs + j] = True
        stats.judged = sum(ok)
        stats.fallback = len(texts) - stats.judged
        stats.latency_s = time.perf_counter() - t0
        return scores, ok, stats, errors


_CLIENTS: dict[tuple, JudgeClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(config: JudgeConfig) -> JudgeClient:
    """One long-lived client per distinct config, so the connection pool and the breaker persist across
    ``score_batch`` calls (training steps)."""
    key = (os.getpid(), dataclasses.astuple(config))  # a forked worker (veRL, dataloaders) opens its own sockets
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = JudgeClient(config)
        return client


def reset_clients() -> None:
    """Close and forget every cached client (fresh breakers; tests and long-lived processes)."""
    with _CLIENTS_LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()


@dataclass
class JudgeRequest:
    """One item to judge: its position in the batch, text parts, group key and rule-based fallback."""

    position: int
    question: str
    reference: str
    answer: str
    group: Any
    fallback: float = field(default=0.0)


def judge_accuracies(requests: Sequence[JudgeRequest], judge: JudgeConfig | JudgeClient
                     ) -> tuple[list[float], list[str], list[float | None], JudgeStats]:
    """Accuracy in [0, 1], its source and the raw model score (``None`` on fallback) for each request.

    Scores are normalised (``group`` or ``sigmoid``) among judged items only; fallback items keep their
    rule-based accuracy (already in [0, 1]) under ``sigmoid``, and under ``group`` are normalised among
    the fallback items of their group, so model scores and ROUGE values are never mixed in one group.
    """
    client = judge if isinstance(judge, JudgeClient) else client_for(judge)
    cfg = client.config
    texts = [judge_text(r.question, r.reference, r.answer) for r in requests]
    raw, ok, stats, _ = client.score(texts)
    values = [raw[i] if ok[i] else r.fallback for i, r in enumerate(requests)]
    sources = [SOURCE_JUDGE if flag else SOURCE_FALLBACK for flag in ok]
    if cfg.normalization == "group":
        accuracies = normalize_group_scores(values, [(_group_key(r.group), s) for r, s in zip(requests, sources)])
    else:
        mapped = sigmoid_scores([v for v, flag in zip(values, ok) if flag], cfg.sigmoid_scale)
        it = iter(mapped)
        accuracies = [next(it) if flag else min(1.0, max(0.0, v)) for v, flag in zip(values, ok)]
    return accuracies, sources, [raw[i] if ok[i] else None for i in range(len(requests))], stats


def _group_key(group: Any) -> Any:
    try:
        hash(group)
        return group
    except TypeError:  # a list or dict problem_id from JSON
        return json.dumps(group, sort_keys=True, default=str)
