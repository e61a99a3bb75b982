"""``servemark conformance``: every installed peer and servemark against the same known load.

Part 1 runs each tool against the calibration server on the same seeded plans and compares, per
metric, the figure *as the tool labels it* with the truth in servemark's definition (from the
server's own send times, :mod:`servemark.peers.truth`). Part 2 runs the same tools against a real
server (vLLM CPU) where there is no truth: the table shows the spread between tools.

The point is translation, not ranking: a tool whose "ITL" is a per-request TPOT agrees with
the truth on single-token chunks and is off by the chunk factor on multi-token chunks; that is
its definition, which docs/conformance.md spells out next to the numbers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from servemark.calibration import CalibrationPlan, CalibrationServer
from servemark.errors import ServemarkError
from servemark.importers.peer_common import PeerContext
from servemark.peers import install
from servemark.peers.run import PeerRun, Workload, run_peer
from servemark.peers.truth import truth_summary
from servemark.point import Point

TOOLS = ("servemark", "vllm-bench", "aiperf", "guidellm", "inference-perf")


@dataclass
class ConformancePlan:
    name: str
    what: str
    calibration: CalibrationPlan
    num_requests: int = 24
    concurrency: int = 4
    request_rate: float | None = None
    isl: int = 16
    osl: int = 32


def plans() -> dict[str, ConformancePlan]:
    """The seeded plans. Timings are long enough (tens of ms) that a busy 2-core host's scheduling
    noise stays a small fraction of each gap. Faults sit at arrivals >= 4, after any probe request."""
    return {p.name: p for p in (
        ConformancePlan("single", "1 token per chunk, TTFT 40 ms, 12 ms per token",
                        CalibrationPlan(ttft_ms=40, itl_ms=12, tokens_per_chunk=[1])),
        ConformancePlan("multi", "4 tokens per chunk (as with speculative decoding), 12 ms per token",
                        CalibrationPlan(ttft_ms=40, itl_ms=12, tokens_per_chunk=[4])),
        ConformancePlan("slow-first", "TTFT 600 ms, 10 ms per token",
                        CalibrationPlan(ttft_ms=600, itl_ms=10, tokens_per_chunk=[1])),
        ConformancePlan("failures", "HTTP 500 at arrivals 5, 11, 17; connection dropped mid-stream at 8, 14",
                        CalibrationPlan(ttft_ms=40, itl_ms=12, tokens_per_chunk=[1],
                                        faults={"http_500": [5, 11, 17], "drop": [8, 14]})),
        ConformancePlan("open-loop", "Poisson arrivals at 8 requests/s (seed 1), TTFT 40 ms, 12 ms per token",
                        CalibrationPlan(ttft_ms=40, itl_ms=12, tokens_per_chunk=[1]), request_rate=8.0,
                        concurrency=0),
    )}


@dataclass
class ToolOutcome:
    tool: str
    point: Point | None = None
    error: str | None = None
    run: PeerRun | None = None


@dataclass
class PlanResult:
    plan: str
    truth: dict[str, Any] | None
    outcomes: dict[str, ToolOutcome] = field(default_factory=dict)


def available_tools(wanted: list[str] | None = None) -> list[str]:
    tools = list(wanted or TOOLS)
    bad = set(tools) - set(TOOLS)
    if bad:
        raise ServemarkError(f"unknown tools {sorted(bad)}; known: {', '.join(TOOLS)}")
    return [t for t in tools if t == "servemark" or install.installed(t)]


def run_servemark(w: Workload, prompts: list | None = None) -> Point:
    """servemark's own client on the workload, summarised into a Point (the same path as a sweep)."""
    from servemark.loadgen import LoadSpec, run_load
    from servemark.metrics import summarize
    from servemark.workload import Prompt

    prompts = prompts or [Prompt(token_ids=list(range(w.isl)), client_tokens=w.isl, max_tokens=w.osl)]
    spec = LoadSpec(base_url=w.base_url, model=w.model, prompts=prompts, num_requests=w.num_requests,
                    concurrency=w.concurrency, mode="open" if w.request_rate else "closed",
                    request_rate=w.request_rate, seed=w.seed, timeout_s=120.0, continuous_usage=True,
                    point_id="conformance")
    res = run_load(spec)
    s = summarize(res.records, client=res.client)
    return Point(run_id="conformance", point_id="servemark", source="servemark", model=w.model, isl=w.isl,
                 osl=w.osl, conc=w.concurrency, request_rate=w.request_rate, **s)


def import_peer(tool: str, run: PeerRun) -> Point:
    """The peer's result file through its importer (the same code as ``servemark import``)."""
    if not run.files:
        tail = run.log.read_text(errors="replace").splitlines()[-8:] if run.log.is_file() else []
        raise ServemarkError(f"{tool} wrote no result (exit {run.returncode}); log {run.log}: " + " | ".join(tail))
    f = run.files[0]
    ctx = PeerContext()
    if tool == "vllm-bench":
        from collections import Counter

        from servemark.importers.vllm_bench import VllmBenchContext, _load, result_to_point

        return result_to_point(_load(f)[0], VllmBenchContext(), str(f), str(f), Counter())
    if tool == "aiperf":
        from servemark.importers.aiperf import load, result_to_point as aiperf_point

        return aiperf_point(load(f), ctx, str(f), str(f))
    if tool == "guidellm":
        from servemark.importers.guidellm import points_from_file

        return points_from_file(f, ctx)[0]
    from servemark.importers.inference_perf import _config, report_to_point
    from servemark.importers.peer_common import load_json

    return report_to_point(load_json(f), _config(f), ctx, str(f), str(f))


def run_tools(tools: list[str], w: Workload, workdir: Path, before: Callable[[], None] | None = None,
              prompts: list | None = None, timeout_s: float = 600.0) -> dict[str, ToolOutcome]:
    out: dict[str, ToolOutcome] = {}
    for tool in tools:
        if before:
            before()
        try:
            if tool == "servemark":
                out[tool] = ToolOutcome(tool, point=run_servemark(w, prompts))
            else:
                run = run_peer(tool, w, workdir / tool, timeout_s=timeout_s)
                out[tool] = ToolOutcome(tool, point=import_peer(tool, run), run=run)
        except ServemarkError as exc:
            out[tool] = ToolOutcome(tool, error=str(exc))
    return out


def run_plan(plan: ConformancePlan, tools: list[str], tokenizer: Path, workdir: Path,
             after_each: Callable[[str, dict[str, Any]], None] | None = None) -> PlanResult:
    """Each tool in turn against a fresh truth record of one calibration server running ``plan``."""
    result = PlanResult(plan.name, truth=None)
    truths: dict[str, dict[str, Any]] = {}
    with CalibrationServer(plan.calibration) as srv:
        w = Workload(base_url=srv.base_url, tokenizer=tokenizer, isl=plan.isl, osl=plan.osl,
                     num_requests=plan.num_requests, concurrency=plan.concurrency,
                     request_rate=plan.request_rate, seed=1)
        for tool in tools:
            srv.reset()
            result.outcomes.update(run_tools([tool], w, workdir / plan.name))
            truths[tool] = measured_truth(srv.truth(), plan.osl)
            if after_each:
                after_each(tool, truths[tool])
    result.truth = {"per_tool": truths}
    return result


def measured_truth(truth: dict[str, Any], osl: int) -> dict[str, Any]:
    """Truth over the tool's measured requests: those asking for ``osl`` tokens (probes and
    warmups of other lengths are left out), in servemark's definitions."""
    reqs = {k: v for k, v in truth["requests"].items() if v.get("max_tokens") == osl}
    return truth_summary({"requests": reqs})


# --- reading each tool's figure the way its users read it --------------------------------------

Reader = Callable[[Point], "float | None"]


def _peer(p: Point, name: str, stat: str, scale: float = 1.0) -> float | None:
    v = ((p.extra or {}).get("peer_metrics") or {}).get(name, {}).get(stat)
    return None if v is None else float(v) * scale


def _pareto_per_user(p: Point) -> float | None:
    """vLLM's Pareto plot: output throughput / max concurrency."""
    return (p.output_tput_per_gpu or 0) * p.gpu_count / p.conc if p.conc and p.output_tput_per_gpu else None


# metric -> tool -> (the tool's own label, reader). The truth for each metric is servemark's field.
VIEWS: dict[str, tuple[str, dict[str, tuple[str, Reader]]]] = {
    "TTFT mean": ("mean_ttft", {
        "servemark": ("TTFT", lambda p: p.mean_ttft), "vllm-bench": ("TTFT", lambda p: p.mean_ttft),
        "aiperf": ("time_to_first_token", lambda p: p.mean_ttft), "guidellm": ("TTFT", lambda p: p.mean_ttft),
        "inference-perf": ("time_to_first_token", lambda p: p.mean_ttft)}),
    "TPOT mean": ("mean_tpot", {
        "servemark": ("TPOT", lambda p: p.mean_tpot), "vllm-bench": ("TPOT", lambda p: p.mean_tpot),
        "aiperf": ("inter_token_latency", lambda p: p.mean_tpot),
        "guidellm": ("TPOT", lambda p: _peer(p, "time_per_output_token_ms", "mean", 1e-3)),
        "inference-perf": ("time_per_output_token", lambda p: p.mean_tpot)}),
    "ITL mean": ("mean_itl", {
        "servemark": ("ITL", lambda p: p.mean_itl), "vllm-bench": ("ITL", lambda p: p.mean_icl),
        "aiperf": ("inter_token_latency", lambda p: p.mean_tpot), "guidellm": ("ITL", lambda p: p.mean_tpot),
        "inference-perf": ("inter_token_latency", lambda p: _peer(p, "inter_token_latency", "mean"))}),
    "ITL median": ("median_itl", {
        "servemark": ("ITL", lambda p: p.median_itl), "vllm-bench": ("ITL", lambda p: p.median_icl),
        "aiperf": ("inter_token_latency", lambda p: p.median_tpot), "guidellm": ("ITL", lambda p: p.median_tpot),
        "inference-perf": ("inter_token_latency", lambda p: _peer(p, "inter_token_latency", "median"))}),
    "E2EL mean": ("mean_e2el", {t: ("E2EL" if t in ("servemark", "vllm-bench") else "request_latency",
                                        lambda p: p.mean_e2el) for t in TOOLS}),
    "tok/s/user": ("median_intvty", {
        "servemark": ("1/median TPOT", lambda p: p.median_intvty),
        "vllm-bench": ("Pareto: output tput / concurrency", _pareto_per_user),
        "aiperf": ("output_token_throughput_per_user (mean)",
                   lambda p: _peer(p, "output_token_throughput_per_user", "avg"))}),
    "output throughput (tok/s)": ("output_tput_per_gpu", {t: ("output throughput", lambda p: p.output_tput_per_gpu)
                                                          for t in TOOLS}),
    "completed": ("completed", {t: ("completed", lambda p: float(p.completed)) for t in TOOLS}),
    "failed": ("failed", {t: ("failed", lambda p: float(p.failed)) for t in TOOLS}),
}


@dataclass
class Row:
    plan: str
    tool: str
    metric: str
    label: str
    value: float | None
    truth: float | None

    @property
    def error_pct(self) -> float | None:
        if self.value is None or self.truth in (None, 0):
            return None
        return (self.value - self.truth) / self.truth * 100.0


def rows_for(result: PlanResult) -> list[Row]:
    rows = []
    truths = (result.truth or {}).get("per_tool", {})
    for tool, outcome in result.outcomes.items():
        truth = truths.get(tool) or {}
        for metric, (truth_field, per_tool) in VIEWS.items():
            if tool not in per_tool:
                continue
            label, read = per_tool[tool]
            value = read(outcome.point) if outcome.point else None
            t = truth.get(truth_field)
            if metric == "completed":
                t = truth.get("completed")
            rows.append(Row(result.plan, tool, metric, label, value, float(t) if t is not None else None))
    return rows


COMPANIONS = ("profile_export_aiperf.csv", "config.yaml", "guidellm-scenario.json", "inference-perf-config.yml")
"""Files kept beside a result: the other export of the same run, and the config the peer ran with."""


def keep_results(result: PlanResult, dest: Path) -> list[Path]:
    """Copy each peer's result file, its companions and its command to ``dest/<plan>/<tool>/``
    (how tests/data/peers was made). Paths in the command are written relative to
    ``$SERVEMARK_HOME`` and the run's work folder, so nothing machine-specific is kept."""
    from servemark import paths

    kept = []
    for tool, o in result.outcomes.items():
        if not o.run:
            continue
        d = dest / result.plan / tool
        d.mkdir(parents=True, exist_ok=True)
        work = o.run.log.parent
        found = [*o.run.files, *(p for name in COMPANIONS for p in work.rglob(name))]
        for f in found:
            shutil.copy2(f, d / f.name)
            kept.append(d / f.name)
        package = str(Path(__file__).resolve().parent.parent)
        cmd = (" ".join(o.run.argv).replace(str(paths.home()), "$SERVEMARK_HOME")
               .replace(str(work.parents[1]), "<work>").replace(package, "<servemark>"))
        (d / "command.txt").write_text(cmd + "\n")
    return kept


LAST_ENGINE_OUTCOMES: dict[str, ToolOutcome] = {}


def run_engine(base_url: str, model: str, tokenizer: Path, tools: list[str], workdir: Path,
               num_requests: int = 16, concurrency: int = 4, isl: int = 64, osl: int = 32) -> list[Row]:
    """The same tools against a real server: no truth, so each figure is compared with servemark's."""
    from servemark.workload import RandomPromptBuilder
    from servemark.workload.random_tokens import load_tokenizer

    w = Workload(base_url=base_url.rstrip("/"), tokenizer=tokenizer, model=model, isl=isl, osl=osl,
                 num_requests=num_requests, concurrency=concurrency, seed=1)
    prompts = RandomPromptBuilder(load_tokenizer(tokenizer), seed=1).build(num_requests, isl, osl)
    outcomes = run_tools(tools, w, workdir, prompts=prompts)
    LAST_ENGINE_OUTCOMES.clear()
    LAST_ENGINE_OUTCOMES.update(outcomes)
    ref = outcomes.get("servemark")
    rows = []
    for tool, o in outcomes.items():
        for metric, (_truth_field, per_tool) in VIEWS.items():
            if tool not in per_tool or metric in ("completed",):
                continue
            label, read = per_tool[tool]
            value = read(o.point) if o.point else None
            base = per_tool.get("servemark", (None, None))[1]
            rv = base(ref.point) if (ref and ref.point and base) else None
            rows.append(Row("engine", tool, metric, label, value, rv))
    return rows


def fmt_value(v: float | None, metric: str) -> str:
    """Latencies (seconds) in ms, everything else as a number; '-' when the tool has no such figure."""
    if v is None:
        return "-"
    if metric.split()[0] in ("TTFT", "TPOT", "ITL", "E2EL"):
        return f"{v * 1e3:.2f} ms"
    return f"{v:.1f}"


def fmt_error(metric: str, value: float | None, truth: float | None) -> str:
    if value is None or truth is None:
        return "-"
    if metric in ("completed", "failed"):
        return f"{value - truth:+.0f}"
    return "-" if truth == 0 else f"{(value - truth) / truth * 100:+.1f}%"


def markdown(rows: list[dict[str, Any]]) -> str:
    """Rows (as ``--json`` writes them) as one Markdown table per plan: metrics down, tools across."""
    out = []
    for plan in dict.fromkeys(r["plan"] for r in rows):
        pr = [r for r in rows if r["plan"] == plan]
        tools = list(dict.fromkeys(r["tool"] for r in pr))
        truth_col = "servemark" if plan == "engine" else "truth"
        out.append(f"#### {plan}\n")
        out.append("| metric | " + " | ".join(tools) + (" |" if plan == "engine" else f" | {truth_col} |"))
        out.append("|---" * (len(tools) + (1 if plan == "engine" else 2)) + "|")
        for metric in dict.fromkeys(r["metric"] for r in pr):
            cells, truths = [], []
            for t in tools:
                r = next((x for x in pr if x["tool"] == t and x["metric"] == metric), None)
                if r is None:
                    cells.append("n/a")
                    continue
                if r["truth"] is not None:
                    truths.append(r["truth"])
                err = fmt_error(metric, r["value"], r["truth"])
                cells.append(f"{fmt_value(r['value'], metric)} ({err})" if r["value"] is not None else "-")
            # each tool ran on its own: its error is against its own run's truth; the column shows their range
            lo, hi = (min(truths), max(truths)) if truths else (None, None)
            shown = fmt_value(lo, metric) if lo == hi else f"{fmt_value(lo, metric)} – {fmt_value(hi, metric)}"
            row = f"| {metric} | " + " | ".join(cells)
            out.append(row + (" |" if plan == "engine" else f" | {shown} |"))
        out.append("")
    return "\n".join(out)
