"""The simulated engine: a batch engine with known timings, and its true frontier in closed form.

A measuring instrument beside the calibration server (whose token gaps are fixed): here the time
per output token depends on how many streams are active, the way a real batch engine's does::

    TPOT(b) = slowdown x max(floor_s, b x compute_s)        (memory-bound floor, then compute-bound)
    TTFT    = slowdown x isl x prefill_s + TPOT(b)           (prefill, then the first decode step)
    E2EL    = slowdown x isl x prefill_s + osl x TPOT(b)

so a closed loop at concurrency ``b`` has interactivity ``1 / TPOT(b)`` and total throughput
``b (isl + osl) / E2EL`` (:func:`true_point`; :func:`true_tput_at` is the frontier as a function
of interactivity). Noise is seeded and of a chosen size: every trial draws one speed factor
(``trial_noise``, the machine-state variation between runs) and every request its own
(``noise``); both are log-normal with median 1.

Two ways to measure it, same model:

- :func:`simulate_records` runs a closed-loop point in-process in virtual time and returns
  :class:`~servemark.records.RequestRecord`\\ s, which go through the one metric implementation
  (``metrics.summarize``): thousands of trials a second, for coverage tests and benchmarks;
- :class:`SimulatedApp` is an OpenAI-compatible streaming server (``python -m
  servemark.calibration.simulated --port 0 --model '{...}'``) for the real load generator and
  sweeps; it counts active streams and sleeps each token's TPOT(active).

The closed form ignores the tail of a finite point (the last requests run with fewer streams
active, and the window ends with the slowest stream), so a finite measurement sits slightly
below it; tests of interval coverage compare with the mean of many simulated trials (the value
the measurement estimates), tests of frontier shape with the closed form within a tolerance.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from servemark.records import RequestRecord


@dataclass(frozen=True)
class SimModel:
    """Timing model of the simulated engine (seconds)."""

    floor_s: float = 0.004
    """Memory-bound per-token floor: TPOT with few streams active."""
    compute_s: float = 0.0005
    """Compute cost per active stream per token (TPOT grows with the batch above floor/compute)."""
    prefill_s: float = 0.0002
    """Prefill cost per input token."""
    noise: float = 0.05
    """Per-request log-normal speed noise (sigma of the log)."""
    trial_noise: float = 0.01
    """Per-trial log-normal speed noise (sigma of the log): what differs between two runs."""
    slowdown: float = 1.0
    """Multiplies every time (an A/B test's B is ``slowdown=1.05``: 5% slower)."""
    max_streams: int = 1024

    def tpot(self, b: float) -> float:
        return self.slowdown * max(self.floor_s, b * self.compute_s)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SimModel":
        try:
            d = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"--model is not JSON: {exc}") from None
        bad = set(d) - set(cls.__dataclass_fields__)
        if bad:
            raise ValueError(f"unknown simulated-engine keys {sorted(bad)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def true_point(m: SimModel, conc: float, isl: int, osl: int, gpus: int = 1) -> tuple[float, float]:
    """(interactivity tok/s/user, total throughput tok/s/GPU) of a closed loop at ``conc`` streams."""
    tpot = m.tpot(conc)
    e2el = m.slowdown * isl * m.prefill_s + osl * tpot
    return 1.0 / tpot, conc * (isl + osl) / e2el / gpus


def true_tput_at(m: SimModel, intvty: float, isl: int, osl: int, gpus: int = 1) -> float:
    """The true frontier: the most throughput at interactivity ``intvty`` (0 above the floor's limit).

    Throughput grows with the batch, so the best point at a given interactivity runs the largest
    batch whose TPOT still meets it: ``b = TPOT / compute`` (never below the floor's ``b``)."""
    tpot = 1.0 / intvty
    if tpot < m.tpot(1):
        return 0.0
    b = tpot / (m.slowdown * m.compute_s)
    return true_point(m, b, isl, osl, gpus)[1]


def _factor(rng: np.random.Generator, sigma: float, size: Any = None) -> Any:
    return np.exp(rng.normal(0.0, sigma, size)) if sigma > 0 else (np.ones(size) if size else 1.0)


def simulate_records(m: SimModel, conc: int, isl: int, osl: int, num_requests: int, seed: int,
                     num_warmup: int = 0, point_id: str = "sim") -> list[RequestRecord]:
    """One closed-loop trial in virtual time: ``conc`` slots, each starts its next request when the
    previous ends; a request's TPOT is ``TPOT(active streams at its start)`` x its noise x the trial's.

    Chunk times are whole tokens, evenly spaced, so every latency metric is computed by
    ``metrics.summarize`` exactly as for a real server."""
    rng = np.random.default_rng(seed)
    trial = _factor(rng, m.trial_noise)
    total = num_requests + num_warmup
    req = _factor(rng, m.noise, total)
    heap = [(0.0, s) for s in range(min(conc, total))]
    heapq.heapify(heap)
    out: list[RequestRecord] = []
    for i in range(total):
        start, slot = heapq.heappop(heap)
        active = min(conc, total - i + len(heap))  # fewer streams in the tail
        f = trial * req[i]
        tpot = m.tpot(active) * f
        first = start + m.slowdown * isl * m.prefill_s * f + tpot
        chunks = [first + k * tpot for k in range(osl)]
        end = chunks[-1]
        out.append(RequestRecord(point_id=point_id, request_id=i, scheduled_at=start, sent_at=start,
                                 first_token_at=first, last_token_at=end, done_at=end, prompt_tokens=isl,
                                 output_tokens=osl, client_prompt_tokens=isl, client_output_tokens=osl,
                                 chunk_times=chunks, chunk_tokens=[1] * osl, warmup=i < num_warmup))
        heapq.heappush(heap, (end, slot))
    return out


def simulate_run(m: SimModel, run_id: str, concs: Sequence[int], trials: int = 1, isl: int = 128, osl: int = 32,
                 per_conc: int = 8, seed: int = 0, date: str = "2026-01-01") -> tuple[list[Any], list[Any]]:
    """A whole sweep in virtual time: ``(summary points, trial rows)`` exactly as ``servemark run``
    stores them (same ``metrics.summarize``, ``summarise_trials`` and bootstrap for one trial).

    Each trial draws its own trial factor (as if the engine restarted), so ``trial_noise`` is the
    between-trial variation; ``seed`` makes the whole run reproducible."""
    from servemark.metrics import summarize
    from servemark.metrics.intervals import summarise_trials, with_request_intervals
    from servemark.point import Point

    common = {"run_id": run_id, "model": "simulated", "engine": "simulated", "hardware": "sim", "isl": isl,
              "osl": osl, "date": date, "scenario": f"{isl}/{osl}", "source": "servemark"}
    points, rows = [], []
    for ci, conc in enumerate(concs):
        pid = f"{run_id}-{ci:03d}"
        mine = []
        for t in range(trials):
            recs = simulate_records(m, conc, isl, osl, per_conc * conc, seed=int(np.random.SeedSequence([seed, conc, t]).generate_state(1)[0]),
                                    num_warmup=conc)
            f = summarize(recs)
            if trials == 1:
                f = with_request_intervals(f, recs, seed=seed)
            mine.append(Point.from_dict({**f, **common, "conc": conc, "trial": t, "trial_of": pid,
                                         "point_id": pid if trials == 1 else f"{pid}-t{t}"}))
        rows.extend(mine)
        s = summarise_trials([p.to_dict() for p in mine])
        points.append(Point.from_dict({**s, "point_id": pid, "trial": None, "trial_of": ""}))
    return points, rows


# --- the server -------------------------------------------------------------------------------

def _prompt_len(body: dict[str, Any]) -> int:
    from servemark.calibration.server import _prompt_tokens

    return _prompt_tokens(body)


def make_app(m: SimModel, seed: int = 0) -> Any:
    """The aiohttp application: the calibration server's routes, with the batch timing model."""
    from aiohttp import web

    from servemark.calibration.plan import CalibrationPlan
    from servemark.calibration.server import CalibrationApp

    class SimulatedApp(CalibrationApp):
        """Streams ``max_tokens`` tokens; each token waits TPOT(streams active now) x noise."""

        def __init__(self) -> None:
            super().__init__(CalibrationPlan(record_truth=False))
            self.active = 0
            self.rng = np.random.default_rng(seed)
            self.trial = float(_factor(self.rng, m.trial_noise))

        async def _stream(self, request: web.Request, chat: bool) -> web.StreamResponse:
            body = await request.json()
            if self.active >= m.max_streams:
                return web.json_response({"error": {"message": "too many streams"}}, status=503)
            max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
            prompt = _prompt_len(body)
            model = str(body.get("model", "simulated"))
            f = self.trial * float(_factor(self.rng, m.noise))
            self.active += 1
            try:
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + m.slowdown * prompt * m.prefill_s * f
                for i in range(max_tokens):
                    deadline += m.tpot(self.active) * f
                    await asyncio.sleep(max(deadline - loop.time(), 0.0))
                    await resp.write(self._chunk(chat, " tok", None, "length" if i == max_tokens - 1 else None, model))
                usage = {"prompt_tokens": prompt, "completion_tokens": max_tokens, "total_tokens": prompt + max_tokens}
                final = {"id": "sim", "object": "chat.completion.chunk" if chat else "text_completion",
                         "model": model, "choices": [], "usage": usage}
                await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
                await resp.write(b"data: [DONE]\n\n")
                await resp.write_eof()
                return resp
            finally:
                self.active -= 1

    return SimulatedApp().app()


def main(argv: list[str] | None = None) -> None:
    from servemark.calibration.server import serve

    ap = argparse.ArgumentParser(description="servemark simulated batch engine (known frontier)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--model", default="{}", help="SimModel as JSON, e.g. '{\"floor_s\": 0.004}'")
    ap.add_argument("--seed", type=int, default=0, help="seed of the trial and request noise")
    ap.add_argument("--max-lifetime-s", type=float, default=3600.0)
    a = ap.parse_args(argv)
    try:
        m = SimModel.from_json(a.model)
    except (ValueError, TypeError) as exc:
        ap.error(str(exc))
    try:
        asyncio.run(serve(None, a.host, a.port, a.max_lifetime_s, app=make_app(m, a.seed)))
    except KeyboardInterrupt:
        pass


__all__ = ["SimModel", "make_app", "simulate_records", "simulate_run", "true_point", "true_tput_at"]

if __name__ == "__main__":
    sys.exit(main())
