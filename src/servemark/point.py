"""The point: one engine config x one scenario x one concurrency, the unit everything shares.

Each field's unit, direction, definition and display live in the field registry
(:mod:`servemark.fields`); this dataclass is kept by hand so type checkers see its attributes, and
``tests/test_fields.py`` asserts it matches the registry field for field.

Field names follow InferenceX so its rows import and compare 1:1, with one change: InferenceX's
``p99.9_*`` keys are stored as ``p999_*`` (a dot is not a column name anywhere without quoting).
Latencies are seconds, throughputs tokens per second, energy joules, power watts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from servemark.fields import INTVTY_STATS, LATENCY_METRICS, LATENCY_STATS

__all__ = ["INTVTY_STATS", "LATENCY_METRICS", "LATENCY_STATS", "POINT_FIELDS", "Point"]


@dataclass
class Point:
    # identity
    run_id: str = ""
    point_id: str = ""
    recipe_hash: str = ""
    started_at: str = ""
    finished_at: str = ""
    date: str = ""
    """Day the point was measured (YYYY-MM-DD), the key for history."""

    # config
    model: str = ""
    engine: str = ""
    engine_version: str = ""
    engine_args: str = ""
    """The engine's argument list as JSON (no secrets: API keys never reach it)."""
    image: str = ""
    hardware: str = ""
    gpu_count: int = 1
    num_prefill_gpu: int | None = None
    num_decode_gpu: int | None = None
    precision: str = ""
    tp: int = 1
    ep: int = 1
    dp_attention: bool = False
    pp: int = 1
    disagg: bool = False
    workers: str = ""
    """Disaggregated layout as JSON (prefill/decode tp, ep, workers), empty when aggregated."""
    layout: dict[str, Any] = field(default_factory=dict)
    """The recipe's :class:`~servemark.recipe.schema.Layout` this point was measured with, as its
    plain dict (``Layout.model_validate`` reads it back); empty for imported points, whose layout is
    the flat fields above. Stored as JSON."""
    spec_method: str = "none"
    isl: int = 0
    osl: int = 0
    random_range_ratio: float = 1.0
    conc: int = 0
    request_rate: float | None = None
    scenario: str = ""
    """Free label of the workload (e.g. ``1k1k``)."""

    # counts
    num_requests: int = 0
    completed: int = 0
    failed: int = 0
    duration: float = 0.0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    client_input_tokens: int | None = None
    prompt_token_deviation: float | None = None
    output_token_deviation: float | None = None
    """Mean of (server prompt tokens - client prompt tokens) / client prompt tokens."""

    # latency (seconds); filled by servemark.metrics
    mean_ttft: float | None = None
    median_ttft: float | None = None
    std_ttft: float | None = None
    p90_ttft: float | None = None
    p99_ttft: float | None = None
    p999_ttft: float | None = None
    mean_tpot: float | None = None
    median_tpot: float | None = None
    std_tpot: float | None = None
    p90_tpot: float | None = None
    p99_tpot: float | None = None
    p999_tpot: float | None = None
    mean_itl: float | None = None
    median_itl: float | None = None
    std_itl: float | None = None
    p90_itl: float | None = None
    p99_itl: float | None = None
    p999_itl: float | None = None
    mean_icl: float | None = None
    median_icl: float | None = None
    std_icl: float | None = None
    p90_icl: float | None = None
    p99_icl: float | None = None
    p999_icl: float | None = None
    mean_e2el: float | None = None
    median_e2el: float | None = None
    std_e2el: float | None = None
    p90_e2el: float | None = None
    p99_e2el: float | None = None
    p999_e2el: float | None = None

    # interactivity (tok/s/user) = 1 / the matching TPOT statistic
    mean_intvty: float | None = None
    median_intvty: float | None = None
    p90_intvty: float | None = None
    p99_intvty: float | None = None
    p999_intvty: float | None = None

    # throughput (tok/s)
    tput_per_gpu: float | None = None
    input_tput_per_gpu: float | None = None
    output_tput_per_gpu: float | None = None
    request_throughput: float | None = None

    # energy (when measured)
    energy_j: float | None = None
    avg_power_w: float | None = None
    joules_per_total_token: float | None = None
    joules_per_input_token: float | None = None
    joules_per_output_token: float | None = None
    energy_source: str = ""
    """``nvml_energy_counter``, ``nvml_power_samples``, ``reported`` (imported) or empty."""
    energy_note: str = ""
    """Why energy is missing, when it is."""

    # levels: speed of light -> engine ceiling -> served (docs/ceiling.md); copied from the
    # engine_ceilings and sol_point_fractions tables by servemark.ceiling.levels.refresh
    ceiling_tput_per_gpu: float | None = None
    ceiling_output_tput_per_gpu: float | None = None
    ceiling_intvty: float | None = None
    ceiling_tool: str = ""
    sol_tput_per_gpu: float | None = None
    served_over_ceiling: float | None = None
    ceiling_over_sol: float | None = None
    served_over_sol: float | None = None

    # quality
    flags: list[str] = field(default_factory=list)
    """Problems that make the point suspect: ``too_many_failures``, ``client_saturated``, ..."""

    # workloads, prefix cache, SLO (docs/workloads.md)
    workload: str = "random"
    """The workload's identity key: ``random`` or ``kind:hash`` of its parameters (part of the
    point's identity; frontiers group by it so they never mix workloads)."""
    workload_kind: str = "random"
    """``random``, ``dataset``, ``multi_turn`` or ``trace``."""
    workload_params: str = ""
    """The scenario's ``workload`` block as JSON (empty for random)."""
    prefix_cache: bool = False
    """Engine prefix caching asked for by the scenario."""
    cached_tokens: int | None = None
    """Prompt tokens served from the prefix cache over the measured requests (tokens)."""
    cache_hit_rate: float | None = None
    """cached_tokens / prompt tokens of the measured requests (fraction)."""
    cache_source: str = ""
    """``usage`` (``prompt_tokens_details.cached_tokens``), ``prometheus`` (the engine's counters
    sampled around the window) or empty (not measurable)."""
    schedule_lag_p99: float | None = None
    """Open loop and traces: 99th percentile of (sent - scheduled) (s): how late the client sent."""
    slo: str = ""
    """The recipe's SLO as JSON (bounds in ms, percentile), empty without one."""
    goodput_rps: float | None = None
    """Requests meeting every SLO bound per second of the benchmark window (req/s)."""
    good_fraction: float | None = None
    """Share of measured requests (failures included) meeting every SLO bound."""
    slo_met: bool | None = None
    """Every bounded metric's ``percentile`` value is within its bound (and ``min_good_fraction``)."""
    # uncertainty (docs/metrics.md "Intervals")
    trials: int = 1
    """Trials this point summarises (each is a row of the store's ``trials`` table)."""
    trial: int | None = None
    """On a row of the ``trials`` table: its index (0-based); empty on the summary point."""
    trial_of: str = ""
    """On a row of the ``trials`` table: the ``point_id`` of the point it is a trial of."""
    intervals: dict[str, Any] = field(default_factory=dict)
    """Confidence interval per metric: ``{field: [low, high]}`` at ``interval_level``."""
    interval_method: str = ""
    """``t_trials``, ``bootstrap_requests`` or empty (no interval)."""
    interval_level: float | None = None

    # provenance
    source: str = "servemark"
    """``servemark`` (measured here), ``inferencex`` or ``vllm-bench`` (imported)."""
    source_file: str = ""
    run_url: str = ""
    servemark_version: str = ""
    git_sha: str = ""
    host: str = ""
    cpu: str = ""
    gpu_name: str = ""
    gpu_driver: str = ""
    tokenizer: str = ""
    seed: int | None = None
    recipe: str = ""
    """The fully resolved recipe as JSON."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Everything else worth keeping (failures by kind, token disagreements, client monitor, TTFT by turn, SLO search, import notes)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Point":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for key in ("flags", "extra", "layout", "intervals"):
            if isinstance(kw.get(key), str):
                kw[key] = json.loads(kw[key]) if kw[key] else ([] if key == "flags" else {})
        return cls(**kw)


POINT_FIELDS = tuple(f.name for f in fields(Point))
