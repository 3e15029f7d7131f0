"""A stand-in reward-model server on loopback for judge tests and the throughput benchmark.

It speaks the two wire shapes the judge client uses (vLLM ``POST /pooling`` with ``{"model", "input"}`` ->
``{"data": [{"index", "object": "pooling", "data": [...]}]}``; SGLang ``POST /classify`` with ``{"model",
"text"}`` -> ``[{"index", "embedding": [score]}]``) and returns deterministic scores:

* an answer containing ``SCORE=<number>`` scores that number (hand-computed normalisation tests);
* otherwise ``10 * jaccard(reference words, answer words) - 5``.

It records every request body and the largest number of requests it held at once, and can misbehave on
demand: ``status`` (answer every request with that HTTP status), ``fail_first`` (the first N requests get
500), ``delay_s`` (sleep before answering), ``malformed`` (a body that is not JSON), ``die_after`` (serve N
requests, then close the listening socket: a server that dies mid-batch).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_SCORE = re.compile(r"SCORE=(-?\d+(?:\.\d+)?)")


def standin_score(text: str) -> float:
    """The stand-in's score of one judge text (reference and answer read back from POLAR's layout)."""
    left, _, right = text.partition("<|reward|>")
    reference = left.split("\n", 1)[1] if "\n" in left else left
    answer = right.removesuffix("[UNUSED_TOKEN_130]")
    answer = answer.split("\n", 1)[1] if "\n" in answer else answer
    found = _SCORE.search(answer)
    if found:
        return float(found.group(1))
    a, b = set(reference.lower().split()), set(answer.lower().split())
    return 10.0 * (len(a & b) / len(a | b) if a | b else 0.0) - 5.0


class StandinJudge:
    def __init__(self, *, delay_s: float = 0.0, status: int | None = None, fail_first: int = 0,
                 malformed: bool = False, die_after: int | None = None) -> None:
        self.delay_s, self.status, self.fail_first = delay_s, status, fail_first
        self.malformed, self.die_after = malformed, die_after
        self.requests: list[tuple[str, dict]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                standin._handle(self)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 drops connects when 32 clients arrive at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        self._dead = False

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", 0))
        raw = h.rfile.read(length)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = {"raw": raw.decode("utf-8", "replace")}
            self.requests.append((h.path, body))
            n = len(self.requests)
        reply = None
        try:
            reply = self._reply(h.path, body, n)
        finally:
            # Leave the in-flight count before answering: the client cannot send its next request before it
            # has this answer, so the count never includes a request that is already answered.
            with self._lock:
                self.in_flight -= 1
        if reply is None:
            self._die(h)
        else:
            self._send(h, *reply)

    def _reply(self, path: str, body: dict, n: int) -> tuple[int, bytes] | None:
        """(status, body) for the n-th request, or None when the server dies instead of answering."""
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.die_after is not None and n > self.die_after:
            return None
        if self.status is not None or n <= self.fail_first:
            return self.status or 500, b'{"error": "stand-in failure"}'
        if self.malformed:
            return 200, b'{"data": [ this is not json'
        if path == "/pooling":
            texts = body["input"]
            # A reward model's per-token output: the score is the last element.
            data = [{"index": i, "object": "pooling", "data": [0.0, -1.0, standin_score(t)]}
                    for i, t in enumerate(texts)]
            payload = {"id": "pool-standin", "object": "list", "model": body.get("model"), "data": data,
                       "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        elif path == "/classify":
            payload = [{"index": i, "embedding": [standin_score(t)], "meta_info": {"id": str(i)}}
                       for i, t in enumerate(body["text"])]
        else:
            return 404, b'{"error": "not found"}'
        return 200, json.dumps(payload).encode()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def _die(self, h: BaseHTTPRequestHandler) -> None:
        """Stop listening and drop this connection without an answer."""
        with self._lock:
            first = not self._dead
            self._dead = True
        if first:
            self.server.socket.close()
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        h.close_connection = True
        try:
            h.connection.shutdown(2)
        except OSError:
            pass

    def close(self) -> None:
        if not self._dead:
            self._dead = True
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "StandinJudge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
