"""A disaggregation router for calibration workers: prefill on one server, decode on another.

It stands in for ``sglang_router --pd-disaggregation`` when the engine is the calibration server,
so a two-role deployment (prefill workers, decode workers, router in front) runs on a cluster in
seconds: each request is first sent to a prefill worker with ``max_tokens: 1`` (the prefill
step), then to a decode worker whose stream is relayed to the client unchanged. Workers are
picked round-robin. ``/health`` answers 200 only when every worker does.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys

import aiohttp
from aiohttp import web


class Router:
    def __init__(self, prefill: list[str], decode: list[str]) -> None:
        self.prefill, self.decode = prefill, decode
        self._p, self._d = itertools.cycle(prefill), itertools.cycle(decode)
        self.session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self.forward)
        app.router.add_post("/v1/chat/completions", self.forward)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def _close(self, app: web.Application) -> None:
        if self.session:
            await self.session.close()

    async def health(self, request: web.Request) -> web.Response:
        assert self.session is not None
        for url in self.prefill + self.decode:
            try:
                async with self.session.get(url + "/health") as r:
                    if r.status != 200:
                        return web.Response(status=503, text=f"{url} answers {r.status}")
            except aiohttp.ClientError as exc:
                return web.Response(status=503, text=f"{url}: {exc}")
        return web.Response(text="ok")

    async def models(self, request: web.Request) -> web.Response:
        assert self.session is not None
        async with self.session.get(self.decode[0] + "/v1/models") as r:
            return web.Response(status=r.status, body=await r.read(), content_type="application/json")

    async def forward(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        body = await request.json()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("x-request-id", "authorization")}
        pre = {**body, "max_tokens": 1, "stream": True}
        pre.pop("stream_options", None)
        async with self.session.post(next(self._p) + request.path, json=pre, headers=headers) as r:
            await r.read()
            if r.status != 200:
                return web.Response(status=r.status, text="prefill worker failed")
        async with self.session.post(next(self._d) + request.path, data=json.dumps(body),
                                     headers={**headers, "Content-Type": "application/json"}) as r:
            resp = web.StreamResponse(status=r.status, headers={"Content-Type": r.headers.get("Content-Type", "text/event-stream")})
            await resp.prepare(request)
            async for chunk in r.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="servemark calibration PD router")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prefill", action="append", default=[], help="prefill worker base URL (repeat)")
    ap.add_argument("--decode", action="append", default=[], help="decode worker base URL (repeat)")
    a = ap.parse_args(argv)
    if not a.prefill or not a.decode:
        ap.error("at least one --prefill and one --decode")
    try:
        web.run_app(Router(a.prefill, a.decode).app(), host=a.host, port=a.port, print=None)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
