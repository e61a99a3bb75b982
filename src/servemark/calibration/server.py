"""The calibration server: an OpenAI-compatible streaming endpoint with known token timings.

It is a measuring instrument, not a mock of an engine: it follows a :class:`CalibrationPlan`
and stamps ``perf_counter_ns`` right before writing each chunk. Client and server share the
host's monotonic clock, so ``client time - server time`` per chunk is the client's timing error
(loopback plus the client's own delay). Truth is served at ``GET /calibration/truth`` keyed by the
client's ``X-Request-Id``; ``POST /calibration/reset`` clears it.

Run: ``python -m servemark.calibration.server --port 0 --plan '{"itl_ms": 2}'``; it prints
``listening <port>`` and stops by itself after ``--max-lifetime-s`` or when its parent dies.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import time
from time import perf_counter_ns
from typing import Any

from aiohttp import web

from servemark.calibration.plan import CalibrationPlan


def _prompt_tokens(body: dict[str, Any]) -> int:
    """Prompt length as this server counts it: token ids as given, text by whitespace words."""
    if "messages" in body:
        return sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    p = body.get("prompt", "")
    if isinstance(p, list):
        return len(p)
    return len(str(p).split())


def _prompt_digest(body: dict[str, Any]) -> str:
    """What a prefix cache would key on, as 16 hex digits: tells whether two requests sent the same text."""
    what = body["messages"] if "messages" in body else body.get("prompt", "")
    return hashlib.blake2b(json.dumps(what, sort_keys=True).encode(), digest_size=8).hexdigest()


class CalibrationApp:
    def __init__(self, plan: CalibrationPlan) -> None:
        self.plan = plan
        self.arrivals = 0
        self.truth: dict[str, dict[str, Any]] = {}
        self.started_ns = perf_counter_ns()
        self.slots = asyncio.Semaphore(plan.max_concurrent) if plan.max_concurrent else None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/calibration/truth", self.get_truth)
        app.router.add_post("/calibration/reset", self.reset)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "calibration", "object": "model"}]})

    async def get_truth(self, request: web.Request) -> web.Response:
        return web.json_response({"arrivals": self.arrivals, "requests": self.truth})

    async def reset(self, request: web.Request) -> web.Response:
        self.truth.clear()
        self.arrivals = 0
        return web.json_response({"ok": True})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, chat=False)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, chat=True)

    def _chunk(self, chat: bool, text: str, usage: dict | None, finish: str | None, model: str) -> bytes:
        if chat:
            choice: dict[str, Any] = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
            obj: dict[str, Any] = {"id": "cal", "object": "chat.completion.chunk", "model": model,
                                   "choices": [choice]}
        else:
            obj = {"id": "cal", "object": "text_completion", "model": model,
                   "choices": [{"index": 0, "text": text, "finish_reason": finish}]}
        if usage is not None:
            obj["usage"] = usage
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    async def _stream(self, request: web.Request, chat: bool) -> web.StreamResponse:
        if self.slots is None:
            return await self._serve(request, chat)
        async with self.slots:
            return await self._serve(request, chat)

    async def _serve(self, request: web.Request, chat: bool) -> web.StreamResponse:
        received = perf_counter_ns()
        plan = self.plan
        arrival = self.arrivals
        self.arrivals += 1
        rid = request.headers.get("X-Request-Id", f"arrival-{arrival}")
        body = await request.json()
        fault = plan.fault_for(arrival)
        truth: dict[str, Any] = {"arrival": arrival, "received_ns": received, "fault": fault,
                                 "chunk_ns": [], "chunk_tokens": []}
        if plan.record_truth:
            self.truth[rid] = truth
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or plan.default_max_tokens)
        opts = body.get("stream_options") or {}
        include_usage = bool(opts.get("include_usage"))
        continuous = bool(opts.get("continuous_usage_stats"))
        prompt_tokens = _prompt_tokens(body)
        # what was asked: tells a peer's probe or warmup request apart from its measured ones
        truth.update(max_tokens=max_tokens, prompt_tokens=prompt_tokens, stream=bool(body.get("stream", False)),
                     prompt_digest=_prompt_digest(body))
        if fault == "http_500":
            return web.json_response({"error": {"message": "injected fault", "type": "calibration"}}, status=500)
        if fault == "echo_key_401":  # a careless server quoting the credential it refused
            auth = request.headers.get("Authorization", "")
            return web.json_response({"error": {"message": f"invalid credentials: {auth}", "type": "auth"}}, status=401)
        if fault == "die" and _should_die(plan.die_marker):
            os._exit(3)
        model = str(body.get("model", "calibration"))

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        if chat:  # role-only first chunk, at once: a client that calls this TTFT is wrong
            await resp.write(b'data: {"id":"cal","object":"chat.completion.chunk","choices":[{"index":0,'
                             b'"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n')
        sizes = plan.chunk_sizes(max_tokens)
        mid = len(sizes) // 2
        deadline = received + int(plan.ttft_ms * 1e6)
        sent = 0
        chunk_ns, chunk_tokens = truth["chunk_ns"], truth["chunk_tokens"]
        for i, n in enumerate(sizes):
            if i > 0:
                deadline += int(n * plan.itl_ms * 1e6)
            if i == mid and fault == "stall":
                deadline += int(plan.stall_s * 1e9)
            if i == mid and fault == "drop":
                truth["dropped_after_chunks"] = i
                request.transport.close()  # type: ignore[union-attr]
                return resp
            if i == mid and fault == "malformed":
                await resp.write(b"data: {this is not json\n\n")
            wait = deadline - perf_counter_ns()
            if wait > 0:
                await asyncio.sleep(wait / 1e9)
            sent += n
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sent,
                     "total_tokens": prompt_tokens + sent} if continuous else None
            data = self._chunk(chat, " tok" * n, usage, "length" if i == len(sizes) - 1 else None, model)
            t = perf_counter_ns()
            await resp.write(data)
            chunk_ns.append(t)
            chunk_tokens.append(n)
        if include_usage:
            told: Any = {"usage_inflated": 3 * sent, "usage_garbage": "abc", "usage_huge": 10**18,
                         "usage_negative": -5}.get(fault or "", sent)
            final = {"id": "cal", "object": "chat.completion.chunk" if chat else "text_completion", "model": model,
                     "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": told,
                                              "total_tokens": prompt_tokens + sent}}
            await resp.write(b"data: " + json.dumps(final, separators=(",", ":")).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        truth["done_ns"] = perf_counter_ns()
        await resp.write_eof()
        return resp


def _should_die(marker: str | None) -> bool:
    if marker is None:
        return True
    try:
        with open(marker, "x"):
            return True
    except FileExistsError:
        return False


async def _watchdog(max_lifetime_s: float, parent: int) -> None:
    t0 = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        if time.monotonic() - t0 > max_lifetime_s or (parent > 1 and os.getppid() != parent):
            os._exit(0)


async def serve(plan: CalibrationPlan | None, host: str = "127.0.0.1", port: int = 0,
                max_lifetime_s: float = 3600.0, announce: bool = True, app: web.Application | None = None) -> None:
    """Serve ``plan`` (or another instrument's ``app``, e.g. the simulated engine's) until told to stop."""
    plan = plan or CalibrationPlan()
    runner = web.AppRunner(app or CalibrationApp(plan).app(), access_log=None, handle_signals=True)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(8192)
    site = web.SockSite(runner, sock, backlog=8192)
    await site.start()
    if announce:
        print(f"listening {sock.getsockname()[1]}", flush=True)
    for _ in range(plan.child_processes):  # engine-like workers in the same process group
        import subprocess

        subprocess.Popen([sys.executable, "-c", "import time; "
                          "time.sleep(86400)"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    await _watchdog(max_lifetime_s, os.getppid() if plan.parent_watch else 0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="servemark calibration server (known token timings)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--plan", default="{}", help="CalibrationPlan as JSON")
    ap.add_argument("--max-lifetime-s", type=float, default=3600.0)
    a = ap.parse_args(argv)
    try:
        import uvloop  # type: ignore

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(CalibrationPlan.from_json(a.plan), a.host, a.port, a.max_lifetime_s))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
