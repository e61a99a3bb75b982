"""The field registry: every field of a point, declared once.

One row per field of :class:`~servemark.point.Point`: its Python type and default, its unit, which
direction is better, a one-line definition, the statistic it is (for latency metrics), how a report
or the dashboard labels and formats it, and its name in the formats servemark imports. Derived
from this table, never written a second time:

- the DuckDB ``points`` schema (:data:`servemark.store.db.POINT_COLUMNS`, via :attr:`Field.store_type`);
- the field table of ``docs/metrics.md`` (``scripts/gen_metrics_table.py``; a test fails when they differ);
- the importers' maps (:data:`INFERENCEX_METRICS`, :data:`VLLM_BENCH_MS`);
- the metric directions the frontier uses (:func:`direction`);
- the dashboard's metadata (:func:`fields_meta`, sent in the data payload under ``meta``).

``Point`` itself stays a hand-written dataclass: type checkers and editors see its attributes,
which a ``make_dataclass`` built at import time would hide from them. ``tests/test_fields.py``
asserts that its fields (names, order, types, defaults) equal this table, so the two cannot drift.
A new metric is one entry here (plus the function that computes it and a field on ``Point``, which
the test demands).

Plain frozen dataclasses in a tuple, no metaclass: a reader sees every field in one screen per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["higher", "lower", "none"]

LATENCY_METRICS = ("ttft", "tpot", "itl", "icl", "e2el")
LATENCY_STATS = ("mean", "median", "std", "p90", "p99", "p999")
"""Statistics computed for every latency metric (see docs/metrics.md "Statistics")."""
INTVTY_STATS = ("mean", "median", "p90", "p99", "p999")
"""Interactivity is 1 / a TPOT statistic; there is no ``std_intvty`` (1/std means nothing)."""

_STAT_WORDS = {"mean": "mean", "median": "median", "std": "standard deviation", "p90": "90th percentile",
               "p99": "99th percentile", "p999": "99.9th percentile"}
_STAT_SHORT = {"mean": "mean", "median": "median", "std": "std", "p90": "p90", "p99": "p99", "p999": "p99.9"}


@dataclass(frozen=True)
class Field:
    """One point field. ``type`` is the annotation as written on ``Point`` (a string)."""

    name: str
    type: str
    default: Any
    group: str
    definition: str
    unit: str = ""
    direction: Direction = "none"
    label: str = ""
    format: str = ""
    """How a report or the page prints a value: ``text``, ``int``, ``number``, ``date``, ``flag``
    (a 0/1 field a series label shows by its name when 1) or ``json``; by type when not given."""
    metric: str = ""
    """For a statistic of a per-request metric: the metric (``ttft``, ``intvty``, ...)."""
    stat: str = ""
    """For a statistic: which one (``mean``, ``median``, ``std``, ``p90``, ``p99``, ``p999``)."""
    inferencex: str = ""
    """Key of this field under an InferenceX row's ``metrics`` (empty: not imported from there)."""
    vllm_bench: str = ""
    """Key in a vLLM ``bench serve`` result, in milliseconds (empty: not imported, or derived)."""

    @property
    def store_type(self) -> str:
        """DuckDB column type: lists and dicts are JSON text."""
        t = self.type
        if t.startswith(("list", "dict")):
            return "VARCHAR"
        if "bool" in t:
            return "BOOLEAN"
        if "int" in t:
            return "BIGINT"
        if "float" in t:
            return "DOUBLE"
        return "VARCHAR"


def _format(name: str, type: str) -> str:
    if name == "date":
        return "date"
    if type.startswith(("list", "dict")):
        return "json"
    for t, fmt in (("bool", "flag"), ("int", "int"), ("float", "number")):
        if t in type:
            return fmt
    return "text"


def _f(name: str, type: str, default: Any, group: str, definition: str, unit: str = "", label: str = "",
       format: str = "", direction: Direction = "none", **kw: Any) -> Field:
    return Field(name, type, default, group, definition, unit, direction, label or name,
                 format or _format(name, type), **kw)


_LATENCY = {
    "ttft": ("Time to first token", "TTFT: `first_token_at − scheduled_at`", "ttft"),
    "tpot": ("Time per output token", "TPOT: `(E2EL − TTFT) / (output_tokens − 1)`", "tpot"),
    "itl": ("Inter-token latency", "ITL per token: a chunk of n tokens after gap g gives n values g/n", ""),
    "icl": ("Inter-chunk latency", "ICL: raw gaps between token-bearing chunks (vLLM/InferenceX \"ITL\")", "itl"),
    "e2el": ("End-to-end latency", "E2EL: `done_at − scheduled_at`", "e2el"),
}
_VLLM_LATENCY = {"ttft": "ttft", "tpot": "tpot", "icl": "itl", "e2el": "e2el"}
"""servemark metric -> vLLM bench name (vLLM's per-chunk "ITL" is our ICL; it has no per-token ITL).
InferenceX runs vLLM's client, so its ``*_itl`` is ICL too (``_LATENCY``'s last column)."""


def _ix_stat(stat: str) -> str:
    return "p99.9" if stat == "p999" else stat


def _latency_fields() -> list[Field]:
    out = []
    for m in LATENCY_METRICS:
        label, definition, ix = _LATENCY[m]
        for s in LATENCY_STATS:
            vb = _VLLM_LATENCY.get(m)
            out.append(_f(f"{s}_{m}", "float | None", None, "latency",
                          f"{_STAT_WORDS[s]} over successful requests of {definition}", "s",
                          f"{label}, {_STAT_SHORT[s]}", "number", "lower", metric=m, stat=s,
                          inferencex=f"{_ix_stat(s)}_{ix}" if ix else "",
                          vllm_bench=f"{_ix_stat(s)}_{vb}_ms" if vb else ""))
    return out


def _intvty_fields() -> list[Field]:
    return [_f(f"{s}_intvty", "float | None", None, "interactivity",
               f"`1 / {s}_tpot`: tokens per second one user sees", "tok/s/user",
               f"Interactivity, {_STAT_SHORT[s]} (1/TPOT)", "number", "higher", metric="intvty", stat=s,
               inferencex=f"{_ix_stat(s)}_intvty") for s in INTVTY_STATS]


FIELDS: tuple[Field, ...] = (
    # identity
    _f("run_id", "str", "", "identity", "The run (sweep or import) the point belongs to"),
    _f("point_id", "str", "", "identity", "Primary key; importers derive it from the source row (re-import adds nothing)"),
    _f("recipe_hash", "str", "", "identity", "Hash of the resolved recipe"),
    _f("started_at", "str", "", "identity", "UTC time the point's measurement started (ISO 8601)"),
    _f("finished_at", "str", "", "identity", "UTC time the point's measurement finished (ISO 8601)"),
    _f("date", "str", "", "identity", "Day the point was measured (YYYY-MM-DD), the key for history", label="Date"),
    # config
    _f("model", "str", "", "config", "Model name", label="Model"),
    _f("engine", "str", "", "config", "Inference engine (vllm, sglang, trt, llama.cpp, ...)", label="Engine"),
    _f("engine_version", "str", "", "config", "Engine version", label="Engine version"),
    _f("engine_args", "str", "", "config", "The engine's argument list as JSON (no secrets)"),
    _f("image", "str", "", "config", "Container image the engine ran in", label="Image"),
    _f("hardware", "str", "", "config", "Accelerator name (b200, h200, cpu, ...)", label="Hardware"),
    _f("gpu_count", "int", 1, "config", "GPUs serving the point (prefill + decode when disaggregated)", "GPUs", "GPUs", "int"),
    _f("num_prefill_gpu", "int | None", None, "config", "Prefill GPUs (disaggregated)", "GPUs", "Prefill GPUs", "int"),
    _f("num_decode_gpu", "int | None", None, "config", "Decode GPUs (disaggregated)", "GPUs", "Decode GPUs", "int"),
    _f("precision", "str", "", "config", "Weight precision (fp4, fp8, bf16, ...)", label="Precision"),
    _f("tp", "int", 1, "config", "Tensor parallelism", label="TP", format="int"),
    _f("ep", "int", 1, "config", "Expert parallelism", label="EP", format="int"),
    _f("dp_attention", "bool", False, "config", "Data-parallel attention", label="DP attention"),
    _f("pp", "int", 1, "config", "Pipeline parallelism", label="PP", format="int"),
    _f("disagg", "bool", False, "config", "Prefill and decode on separate workers", label="Disaggregated serving"),
    _f("workers", "str", "", "config", "Disaggregated layout as JSON (prefill/decode tp, ep, workers); empty when aggregated"),
    _f("layout", "dict[str, Any]", dict, "config", "The recipe's typed Layout this point was measured with (its plain dict); empty for imported points"),
    _f("spec_method", "str", "none", "config", "Speculative decoding method (none, mtp, eagle, ...)", label="Speculative decoding"),
    _f("isl", "int", 0, "config", "Input sequence length (prompt tokens requested)", "tokens", "Input sequence length", "int"),
    _f("osl", "int", 0, "config", "Output sequence length (tokens requested)", "tokens", "Output sequence length", "int"),
    _f("random_range_ratio", "float", 1.0, "config", "Lengths drawn uniformly in [ratio x length, length]", "", "Length ratio", "number"),
    _f("conc", "int", 0, "config", "Concurrent requests (closed loop: virtual users)", "requests", "Concurrency", "int"),
    _f("request_rate", "float | None", None, "config", "Open-loop arrival rate", "requests/s", "Request rate", "number"),
    _f("scenario", "str", "", "config", "Free label of the workload (e.g. 1k1k)", label="Scenario"),
    # counts
    _f("num_requests", "int", 0, "counts", "Measured requests (warmup excluded)", "requests", "Requests", "int"),
    _f("completed", "int", 0, "counts", "Successful measured requests", "requests", "Completed", "int"),
    _f("failed", "int", 0, "counts", "Failed measured requests", "requests", "Failed", "int", "lower"),
    _f("duration", "float", 0.0, "counts", "Benchmark window: first measured `sent_at` → last measured `done_at` (any outcome)", "s", "Duration", "number"),
    _f("total_input_tokens", "int", 0, "counts", "Σ server `usage.prompt_tokens` over completed requests (client count where the server gave none)", "tokens", "Input tokens", "int"),
    _f("total_output_tokens", "int", 0, "counts", "Σ server `usage.completion_tokens` over completed requests", "tokens", "Output tokens", "int"),
    _f("client_input_tokens", "int | None", None, "counts", "Σ prompt lengths by the client's tokenizer, beside the server's", "tokens", "Client input tokens", "int"),
    _f("prompt_token_deviation", "float | None", None, "counts", "Mean over requests of `(server − client) / client` prompt tokens", "fraction", "Prompt token deviation", "number"),
    _f("output_token_deviation", "float | None", None, "counts", "Mean over successful requests of `(usage.completion_tokens − text chunks streamed) / text chunks streamed`; above `USAGE_TOLERANCE` the point is flagged `usage_mismatch`", "fraction", "Output token deviation", "number"),
    *_latency_fields(),
    *_intvty_fields(),
    # throughput
    _f("tput_per_gpu", "float | None", None, "throughput", "`(input + output tokens) / duration / GPUs` (all GPUs serving)",
       "tok/s/GPU", "Token throughput per GPU", "number", "higher", inferencex="tput_per_gpu"),
    _f("input_tput_per_gpu", "float | None", None, "throughput", "`input tokens / duration / GPUs`; disaggregated: `/ num_prefill_gpu`",
       "tok/s/GPU", "Input token throughput per GPU", "number", "higher", inferencex="input_tput_per_gpu"),
    _f("output_tput_per_gpu", "float | None", None, "throughput", "`output tokens / duration / GPUs`; disaggregated: `/ num_decode_gpu`",
       "tok/s/GPU", "Output token throughput per GPU", "number", "higher", inferencex="output_tput_per_gpu"),
    _f("request_throughput", "float | None", None, "throughput", "`completed / duration`", "requests/s", "Request throughput", "number", "higher"),
    # energy
    _f("energy_j", "float | None", None, "energy", "GPU board energy over exactly the benchmark window, summed over the metered GPUs: NVML energy counter (mJ) interpolated at both edges (`energy_source` `nvml_energy_counter`), else power samples integrated by trapezoids over the window (`nvml_power_samples`); empty without NVML, `energy_note` says why (docs/gpu.md)",
       "J", "Energy", "number"),
    _f("avg_power_w", "float | None", None, "energy", "`energy_j / duration`", "W", "Average power", "number", inferencex="avg_power_w"),
    _f("joules_per_total_token", "float | None", None, "energy", "`energy_j / (total_input_tokens + total_output_tokens)`",
       "J/token", "Measured energy per total token", "number", "lower", inferencex="joules_per_total_token"),
    _f("joules_per_input_token", "float | None", None, "energy", "`energy_j / total_input_tokens` (the whole energy: input and output do not add up)",
       "J/token", "Measured energy per input token", "number", "lower", inferencex="joules_per_input_token"),
    _f("joules_per_output_token", "float | None", None, "energy", "`energy_j / total_output_tokens` (the whole energy: input and output do not add up)",
       "J/token", "Measured energy per output token", "number", "lower", inferencex="joules_per_output_token"),
    _f("energy_source", "str", "", "energy", "`nvml_energy_counter`, `nvml_power_samples`, `reported` (imported) or empty"),
    _f("energy_note", "str", "", "energy", "Why energy is missing, when it is"),
    # levels: speed of light -> engine ceiling -> served (docs/ceiling.md)
    _f("ceiling_tput_per_gpu", "float | None", None, "levels",
       "Engine ceiling: `batch x (ISL + OSL) / wall time / GPUs` of the engine's own offline benchmark "
       "(llama-batched-bench, vllm bench throughput, sglang.bench_one_batch) at batch = `conc`, same model, "
       "engine build, layout and lengths; no server, no HTTP (table `engine_ceilings`)",
       "tok/s/GPU", "Engine ceiling, token throughput per GPU", "number", "higher"),
    _f("ceiling_output_tput_per_gpu", "float | None", None, "levels",
       "Engine ceiling of output tokens: `batch x OSL / wall time / GPUs` of the same benchmark run",
       "tok/s/GPU", "Engine ceiling, output throughput per GPU", "number", "higher"),
    _f("ceiling_intvty", "float | None", None, "levels",
       "Engine ceiling's per-sequence decode rate: decode-phase tokens/s of the batch / batch "
       "(empty for vllm bench throughput, which reports no decode phase)",
       "tok/s/user", "Engine ceiling, decode rate per sequence", "number", "higher"),
    _f("ceiling_tool", "str", "", "levels", "The benchmark the ceiling came from (`llama-batched-bench`, ...)",
       label="Ceiling tool"),
    _f("sol_tput_per_gpu", "float | None", None, "levels",
       "Strict speed of light: the SOL frontier's `tput_per_gpu` at the point's median interactivity "
       "(`sol_point_fractions.sol_tput_per_gpu`, kind strict; `servemark sol check`)",
       "tok/s/GPU", "Speed of light, token throughput per GPU", "number", "higher"),
    _f("served_over_ceiling", "float | None", None, "levels",
       "`tput_per_gpu / ceiling_tput_per_gpu`: the share of the engine's own offline throughput that "
       "serving delivers (1 = serving costs nothing)", "fraction", "Served ÷ engine ceiling", "number", "higher"),
    _f("ceiling_over_sol", "float | None", None, "levels",
       "`ceiling_tput_per_gpu / sol_tput_per_gpu`: how close the engine's kernels come to the hardware bound",
       "fraction", "Engine ceiling ÷ speed of light", "number", "higher"),
    _f("served_over_sol", "float | None", None, "levels",
       "`tput_per_gpu / sol_tput_per_gpu` (= `sol_point_fractions.fraction`, kind strict); "
       "= served_over_ceiling x ceiling_over_sol", "fraction", "Served ÷ speed of light", "number", "higher"),
    # quality
    _f("flags", "list[str]", list, "quality", "Problems that make the point suspect (`too_many_failures`, `client_saturated`, ...)", label="Flags"),
    # workloads, prefix cache, SLO (docs/workloads.md, servemark.metrics.workload)
    _f("workload", "str", "random", "workload", "The workload's identity key: `random` or `kind:hash` of its parameters (part of the point's identity; frontiers group by it so they never mix workloads)", label="Workload"),
    _f("workload_kind", "str", "random", "workload", "`random`, `dataset`, `multi_turn` or `trace`", label="Workload kind"),
    _f("workload_params", "str", "", "workload", "The scenario's `workload` block as JSON (empty for random)"),
    _f("prefix_cache", "bool", False, "workload", "Engine prefix caching asked for by the scenario", label="Prefix cache"),
    _f("cached_tokens", "int | None", None, "workload", "Prompt tokens served from the prefix cache: Σ `usage.prompt_tokens_details.cached_tokens` over completed measured requests (vLLM reports it with `--enable-prompt-tokens-details`, which servemark renders); else the engine's Prometheus hit counter (`vllm:prefix_cache_hits`, `sglang:cached_tokens_total`) read right before and after the point (warmup falls inside, so session and trace workloads warm up with salted prompts that cannot hit); else empty", "tokens", "Cached tokens", "int"),
    _f("cache_hit_rate", "float | None", None, "workload", "`cached_tokens / total_input_tokens` of the measured requests (from `usage`: over the requests that reported a cached count)", "fraction", "Prefix cache hit rate", "number", "higher"),
    _f("cache_source", "str", "", "workload", "`usage` (`prompt_tokens_details.cached_tokens`), `prometheus` (the engine's counters sampled around the window) or empty (not measurable)"),
    _f("schedule_lag_p99", "float | None", None, "workload", "Open loop and traces: 99th percentile of `sent_at − scheduled_at` over measured requests (how late the client sent; for traces, the lag behind the trace's own times)", "s", "Schedule lag p99", "number", "lower"),
    _f("slo", "str", "", "workload", "The recipe's `slo` as JSON (`ttft_ms`, `tpot_ms`, `e2el_ms` bounds, `percentile`, `min_good_fraction`), so a stored verdict says what it was judged against; empty without one"),
    _f("goodput_rps", "float | None", None, "workload", "Good requests per second of `duration`: a request is good when it succeeded and its TTFT, TPOT and E2EL are within every bound of `slo` (a one-token request meets any TPOT bound); failures are not good (unlike vLLM)", "requests/s", "Goodput", "number", "higher"),
    _f("good_fraction", "float | None", None, "workload", "Good requests / `num_requests` (failures in the denominator, as misses)", "fraction", "Good fraction", "number", "higher"),
    _f("slo_met", "bool | None", None, "workload", "Every measured request succeeded, each bounded metric's `percentile`-th value over the point's requests is within its bound, and (if set) `good_fraction ≥ min_good_fraction`", label="SLO met"),
    # uncertainty
    _f("trials", "int", 1, "uncertainty", "Trials the point summarises: each a measurement window of its own, stored in the `trials` table", "trials", "Trials", "int"),
    _f("trial", "int | None", None, "uncertainty", "Trial index (0-based) on a row of the `trials` table; empty on the summary point", label="Trial", format="int"),
    _f("trial_of", "str", "", "uncertainty", "On a row of the `trials` table: the `point_id` of the point it is a trial of"),
    _f("intervals", "dict[str, Any]", dict, "uncertainty", "Confidence interval per metric `{field: [low, high]}` at `interval_level` (docs/metrics.md \"Intervals\")", label="Intervals"),
    _f("interval_method", "str", "", "uncertainty", "`t_trials` (t-interval of the trial means), `bootstrap_requests` (one trial: percentile bootstrap over its requests) or empty", label="Interval method"),
    _f("interval_level", "float | None", None, "uncertainty", "Confidence level of `intervals`", "", "Confidence level", "number"),
    # provenance
    _f("source", "str", "servemark", "provenance", "`servemark` (measured here), `inferencex` or `vllm-bench` (imported)", label="Source"),
    _f("source_file", "str", "", "provenance", "File an imported point came from"),
    _f("run_url", "str", "", "provenance", "Link to the run that measured an imported point", label="Run"),
    _f("servemark_version", "str", "", "provenance", "servemark version that measured the point"),
    _f("git_sha", "str", "", "provenance", "servemark commit that measured the point"),
    _f("host", "str", "", "provenance", "Host name of the measuring machine"),
    _f("cpu", "str", "", "provenance", "CPU of the measuring machine"),
    _f("gpu_name", "str", "", "provenance", "GPU model as NVML reports it"),
    _f("gpu_driver", "str", "", "provenance", "GPU driver version"),
    _f("tokenizer", "str", "", "provenance", "Tokenizer the client counted prompt tokens with: a folder, `hf:org/name@<commit>` (HF cache) or `server:<url>/tokenize`"),
    _f("seed", "int | None", None, "provenance", "Seed of the prompt generator", format="int"),
    _f("recipe", "str", "", "provenance", "The fully resolved recipe as JSON"),
    _f("extra", "dict[str, Any]", dict, "provenance", "Everything else worth keeping (failures by kind, token disagreements, client monitor, TTFT by turn, SLO search, import notes)"),
)
"""Every point field, in ``Point``'s order. ``default`` ``list``/``dict`` mean a fresh empty one."""

FLAGS: dict[str, str] = {
    "too_many_failures": "more than the recipe's `max_failure_rate` of the measured requests failed",
    "no_completed_requests": "no measured request completed",
    "client_saturated": "the load generator could not keep up (its event loop lagged): the load was not the planned one",
    "nonpositive_throughput": "an imported point whose throughput is zero or negative",
    "usage_mismatch": "the server's `usage.completion_tokens` exceed the tokens it streamed by more than `USAGE_TOLERANCE` on average (its throughput is computed from usage; legitimate only when chunks carry several tokens, e.g. speculative decoding)",
    "nonfinite_value": "an imported point had NaN or infinite metric values; they were dropped (left empty)",
    "negative_value": "an imported point had negative metric values; they were dropped (left empty)",
}
"""Every point flag and what it means: the one list (summarize and the importers emit only these)."""

USAGE_TOLERANCE = 0.10
"""Largest mean ``output_token_deviation`` a point may have before it is flagged ``usage_mismatch``."""

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
JSON_FIELDS = tuple(f.name for f in FIELDS if f.type.startswith(("list", "dict")))
"""Fields stored as JSON text."""

INFERENCEX_METRICS: dict[str, str] = {f.inferencex: f.name for f in FIELDS if f.inferencex}
"""InferenceX ``metrics`` key -> point field (``p99.9_ttft`` -> ``p999_ttft``)."""

VLLM_BENCH_MS: dict[str, str] = {f.vllm_bench: f.name for f in FIELDS if f.vllm_bench}
"""vLLM ``bench serve`` key (milliseconds) -> point field (seconds)."""


def direction(name: str) -> Direction | None:
    """The registry's direction of a point field, or ``None`` for a name that is not a field."""
    f = FIELD_BY_NAME.get(name)
    return f.direction if f else None


def fields_meta(group_by: tuple[str, ...] | list[str], excluded_flags: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """What the dashboard needs to know about fields, so its JavaScript hard-codes none of it.

    ``{"fields": {name: {label, unit, direction, format}}, "group_by": [...], "excluded_flags": [...]}``;
    the caller passes the frontier's grouping key and excluded flags (``analysis.frontier``), which
    keeps this module free of imports from later stages.
    """
    return {
        "fields": {f.name: {"label": f.label, "unit": f.unit, "direction": f.direction, "format": f.format}
                   for f in FIELDS},
        "group_by": list(group_by),
        "excluded_flags": list(excluded_flags),
    }
