"""Run one peer against a server on a given workload and collect its result files.

Each peer gets the same workload, expressed in its own command-line words: the OpenAI
completions API, ``isl`` prompt tokens and exactly ``osl`` output tokens (ignore EOS),
``num_requests`` requests either closed-loop at ``concurrency`` or open-loop at
``request_rate`` (Poisson, ``seed``). Commands are argv lists. The result files are what the
importers read (``servemark.importers.<peer>``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from servemark.errors import ServemarkError
from servemark.peers import install


@dataclass
class Workload:
    base_url: str
    tokenizer: Path
    """A local Hugging Face tokenizer folder (the calibration tokenizer against the calibration server)."""
    model: str = "calibration"
    isl: int = 16
    osl: int = 32
    num_requests: int = 24
    concurrency: int = 4
    request_rate: float | None = None
    """Open loop (Poisson arrivals) when set; ``concurrency`` then caps requests in flight."""
    seed: int = 1
    workers: int | None = None
    """Client processes, for peers that have them (AIPerf); None = the peer's default."""


@dataclass
class PeerRun:
    """What one peer run produced: its command, exit code, result files, wall time and log."""

    peer: str
    argv: list[str]
    returncode: int
    files: list[Path]
    wall_s: float
    log: Path
    cpu_s: float | None = None
    """The client's CPU seconds (user+system of the peer and its children, whole run incl. start-up)."""
    extra: dict = field(default_factory=dict)


def _vllm_bench(w: Workload, out: Path) -> list[str]:
    argv = [*install.executable("vllm-bench"), "--backend", "vllm", "--base-url", w.base_url,
            "--endpoint", "/v1/completions", "--model", w.model, "--tokenizer", str(w.tokenizer),
            "--dataset-name", "random", "--random-input-len", str(w.isl), "--random-output-len", str(w.osl),
            "--num-prompts", str(w.num_requests), "--ignore-eos", "--seed", str(w.seed),
            "--ready-check-timeout-sec", "0", "--save-result", "--result-dir", str(out),
            "--result-filename", "vllm_bench.json", "--percentile-metrics", "ttft,tpot,itl,e2el",
            "--metric-percentiles", "50,90,99", "--disable-tqdm"]
    argv += ["--max-concurrency", str(w.concurrency)] if w.concurrency else []
    argv += ["--request-rate", str(w.request_rate)] if w.request_rate else []
    return argv


def _aiperf(w: Workload, out: Path) -> list[str]:
    argv = [*install.executable("aiperf"), "profile", "--model", w.model, "--url", w.base_url,
            "--endpoint-type", "completions", "--streaming", "--tokenizer", str(w.tokenizer),
            "--synthetic-input-tokens-mean", str(w.isl), "--synthetic-input-tokens-stddev", "0",
            "--output-tokens-mean", str(w.osl), "--output-tokens-stddev", "0",
            "--extra-inputs", "ignore_eos:true", "--request-count", str(w.num_requests),
            "--random-seed", str(w.seed), "--artifact-dir", str(out / "aiperf"), "--ui-type", "none"]
    if w.request_rate:
        argv += ["--request-rate", str(w.request_rate), "--request-rate-mode", "poisson"]
        argv += ["--concurrency", str(w.concurrency)] if w.concurrency else []
    else:
        argv += ["--concurrency", str(w.concurrency)]
    argv += ["--workers-max", str(w.workers)] if w.workers else []
    return argv


def _guidellm(w: Workload, out: Path) -> list[str]:
    """GuideLLM 0.8 takes its settings as a scenario file; written next to the results."""
    profile: dict = ({"kind": "poisson", "rate": w.request_rate} if w.request_rate
                     else {"kind": "concurrent", "streams": w.concurrency})
    if w.request_rate and w.concurrency:
        profile["max_concurrency"] = w.concurrency
    spec = {"spec": {
        "backend": {"kind": "openai_http", "target": w.base_url, "model": w.model,
                    "request_format": "/v1/completions", "validate_backend": False},
        "profile": profile,
        "data": [{"kind": "synthetic_text", "prompt_tokens": w.isl, "output_tokens": w.osl}],
        "tokenizer": {"kind": "huggingface_auto", "model": str(w.tokenizer)},
        "constraints": [{"kind": "max_requests", "count": w.num_requests}],
        "seed": {"kind": "static", "value": w.seed},
        "outputs": [{"kind": "json", "path": str(out / "guidellm.json")}],
    }}
    scenario = out / "guidellm-scenario.json"
    scenario.write_text(json.dumps(spec, indent=1))
    return [*install.executable("guidellm"), "run", "-c", str(scenario), "--disable-progress"]


def _inference_perf(w: Workload, out: Path) -> list[str]:
    """inference-perf reads a YAML config; JSON is YAML, so the config is written as JSON."""
    fixed = lambda n: {"min": n, "max": n, "mean": n, "std_dev": 0, "total_count": w.num_requests,  # noqa: E731
                       "type": "fixed"}
    if w.request_rate:
        load = {"type": "poisson", "stages": [{"rate": w.request_rate,
                                               "duration": max(1, round(w.num_requests / w.request_rate))}]}
    else:
        load = {"type": "concurrent", "stages": [{"num_requests": w.num_requests, "concurrency_level": w.concurrency}]}
    load.update(num_workers=w.workers or 1, base_seed=w.seed)
    cfg = {
        "api": {"type": "completion", "streaming": True},
        "data": {"type": "random", "input_distribution": fixed(w.isl), "output_distribution": fixed(w.osl)},
        "load": load,
        "server": {"type": "vllm", "model_name": w.model, "base_url": w.base_url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": str(w.tokenizer)},
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": False}},
        "storage": {"local_storage": {"path": str(out / "inference-perf")}},
    }
    config = out / "inference-perf-config.yml"
    config.write_text(json.dumps(cfg, indent=1))
    return [*install.executable("inference-perf"), "-c", str(config)]


BUILDERS = {"vllm-bench": _vllm_bench, "aiperf": _aiperf, "guidellm": _guidellm, "inference-perf": _inference_perf}
RESULT_GLOBS = {"vllm-bench": "vllm_bench.json", "aiperf": "profile_export_aiperf.json",
                "guidellm": "guidellm.json", "inference-perf": "summary_lifecycle_metrics.json"}
OFFLINE_OK = {"vllm-bench", "guidellm", "inference-perf"}
"""Peers that load a local tokenizer folder under ``HF_HUB_OFFLINE=1``; AIPerf's offline mode
looks the name up in the hub cache instead, so it runs without it (it loads the folder directly)."""


def argv_for(peer: str, w: Workload, out: Path) -> list[str]:
    if peer not in BUILDERS:
        raise ServemarkError(f"no runner for peer {peer!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[peer](w, out)


def _tree_cpu(proc, exclude: frozenset[int] = frozenset()) -> float:
    """User+system CPU seconds of a process and its live descendants (psutil), minus the
    subtrees rooted at ``exclude`` (e.g. a server the caller itself started)."""
    import psutil

    total = 0.0
    try:
        kids = proc.children(recursive=True)
    except psutil.Error:
        return total
    skip = set(exclude)
    for k in kids:  # children() lists parents before their children
        try:
            if k.ppid() in skip:
                skip.add(k.pid)
        except psutil.Error:
            pass
    for p in [proc, *kids]:
        if p.pid in skip:
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class CpuSampler:
    """Samples the CPU of a process tree every ``period_s`` as ``(perf_counter, cpu_s)`` pairs, so a
    caller can charge only a window (e.g. the calibration server's first receipt to last chunk)."""

    def __init__(self, pid: int, period_s: float = 0.05, exclude: frozenset[int] = frozenset()) -> None:
        import threading

        import psutil

        self.samples: list[tuple[float, float]] = []
        self._root = psutil.Process(pid)
        self._period = period_s
        self._exclude = exclude
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.samples.append((time.perf_counter(), _tree_cpu(self._root, self._exclude)))

    def __enter__(self) -> "CpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, start: float, end: float) -> float | None:
        """CPU seconds between ``start`` and ``end`` (perf_counter), interpolated between samples."""
        import numpy as np

        if len(self.samples) < 2:
            return None
        t = np.array([x[0] for x in self.samples])
        c = np.array([x[1] for x in self.samples])
        return float(np.interp(end, t, c) - np.interp(start, t, c))


def run_peer(peer: str, w: Workload, out: Path, timeout_s: float = 600.0, sample_cpu: bool = False) -> PeerRun:
    """Run ``peer`` to completion (bounded by ``timeout_s``); never raises for the peer's own failure.

    The peer runs in its own process group (killed whole on timeout). With ``sample_cpu``, its
    process tree's CPU is sampled (:class:`CpuSampler`, in ``extra["cpu"]``): on the calibration
    server's clock, so a caller can charge only the load window (the peer's start-up, tokenizer
    and dataset build stay out)."""
    import contextlib
    import signal

    out.mkdir(parents=True, exist_ok=True)
    argv = argv_for(peer, w, out)
    log = out / f"{peer}.log"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if peer in OFFLINE_OK:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env.pop("PYTHONPATH", None)  # the peer runs in its own environment, never on servemark's path
    sampler: CpuSampler | None = None
    t0, w0 = os.times(), time.perf_counter()
    with open(log, "w") as fh:
        fh.write(json.dumps(argv) + "\n")
        fh.flush()
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=out, start_new_session=True)
        sampler = CpuSampler(proc.pid) if sample_cpu else None
        with sampler or contextlib.nullcontext():
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                rc = 124
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    t1 = os.times()
    cpu = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    files = sorted(p for p in out.rglob(RESULT_GLOBS[peer]) if p.is_file())
    return PeerRun(peer, argv, rc, files, time.perf_counter() - w0, log, cpu_s=cpu,
                   extra={"cpu": sampler} if sampler else {})
