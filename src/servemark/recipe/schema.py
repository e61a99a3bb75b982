"""The recipe schema (pydantic, strict: unknown keys and wrong types are errors).

A recipe says *what* to measure: a model, an engine with its arguments, where it runs, the
parallel layouts, the workload scenarios and the concurrencies. Expansion into points is in
:mod:`servemark.recipe.expand`; the command lines each engine needs are rendered by its adapter.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from servemark.recipe.workload import PrefixCache, RandomWorkload, Slo, SloSearch, Workload, on_off, workload_key

from servemark.metrics.summarize import DEFAULT_MAX_FAILURE_RATE

ArgValue = str | int | float | bool | None

# Upper bounds: far beyond any real deployment, low enough that a typo (conc 10^30, isl 10^12)
# is an error naming the key instead of a crash (or an hour of allocation) at run time.
MAX_CONCURRENCY = 100_000
MAX_RATE = 1_000_000.0
"""Requests per second of an open-loop point (``rates``)."""
MAX_TOKENS_PER_REQUEST = 10_000_000
MAX_REQUESTS_PER_POINT = 10_000_000
MAX_PARALLEL = 65_536
MAX_GPUS = 1_000_000
MAX_TIMEOUT_S = 7 * 24 * 3600.0
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"
"""A recipe name is part of run ids and folder names: letters, digits, ``. _ + -``, no path separator."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=False)


class ServedModel(Strict):
    """The model a recipe serves: its name, where its weights are, its tokenizer and API name."""

    name: str = Field(min_length=1)
    path: str = "auto"
    """``auto``: the model servemark builds itself (``servemark model build NAME``); else a local
    folder or file, or a hub id the engine resolves."""
    tokenizer: str | None = None
    """Tokenizer folder for building prompts; defaults to the model path."""
    served_name: str | None = None


class EngineSpec(Strict):
    name: str = Field(min_length=1)
    """Adapter name: ``vllm``, ``sglang``, ``trtllm``, ``llama-cpp``, ``sglang-pd``, ``dynamo``."""
    build: str | None = None
    """Engine build, e.g. ``cpu`` for vLLM's CPU wheel (its own environment)."""
    args: dict[str, ArgValue] = Field(default_factory=dict)
    """Extra engine flags, ``--key value``; ``true`` renders a bare flag, ``false``/``null`` none."""
    env: dict[str, str] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    """Port clients talk to (the router's in a disaggregated deployment; workers take the next ones)."""
    startup_timeout_s: float = Field(default=900.0, gt=0, le=MAX_TIMEOUT_S)
    backend: Literal["sglang", "trtllm"] | None = None
    """Disaggregated deployments (``dynamo``): the engine each prefill/decode worker runs."""
    kv_transfer: Literal["nixl", "mooncake", "mori"] | None = None
    """Disaggregated deployments: how KV moves from prefill to decode (InferenceX ``kv-p2p-transfer``)."""
    router_args: dict[str, ArgValue] = Field(default_factory=dict)
    """Disaggregated deployments: extra flags for the router / front end."""

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not k or "=" in k or "\0" in k:
                raise ValueError(f"env: {k!r} is not a variable name (empty, or holds '=' or NUL)")
            if "\0" in val:
                raise ValueError(f"env: the value of {k} holds a NUL byte")
        return v


_SLURM_VALUE = r"[A-Za-z0-9_.:@%+,=/-]+"


class SlurmSpec(Strict):
    """``executor.slurm``: how the job is asked for. Values become ``#SBATCH`` lines and ``srun``
    arguments, never shell text: each is checked to be one plain word."""

    partition: str | None = Field(default=None, pattern=f"^{_SLURM_VALUE}$")
    account: str | None = Field(default=None, pattern=f"^{_SLURM_VALUE}$")
    qos: str | None = Field(default=None, pattern=f"^{_SLURM_VALUE}$")
    time: str = Field(default="02:00:00", pattern=r"^[0-9]+(-[0-9]+)?(:[0-9]+){0,2}$")
    """Wall-clock limit per job (array task), Slurm's ``[D-]HH:MM:SS``."""
    nodes: int | None = Field(default=None, ge=1)
    """Nodes per job; default: what the layout needs (prefill, decode and router roles placed by
    the engine adapter, ``hardware.gpus_per_node`` GPUs per node)."""
    gpus_per_node: int | None = Field(default=None, ge=1)
    """``--gpus-per-node``; default: none requested (CPU clusters, or GPUs given by the partition)."""
    cpus_per_task: int | None = Field(default=None, ge=1)
    array_limit: int = Field(default=8, ge=1)
    """Array tasks running at once (``--array=0-N%limit``)."""
    sbatch_args: list[str] = Field(default_factory=list)
    """Extra ``#SBATCH`` options, each one ``--name=value`` word (e.g. ``--exclusive``, ``--constraint=h200``)."""
    servemark: list[str] | None = None
    """How nodes start servemark (argv), default: this interpreter with ``-m servemark``; the run
    folder (``--runs-dir``) must be on storage the nodes share."""

    @field_validator("sbatch_args")
    @classmethod
    def _one_word_each(cls, v: list[str]) -> list[str]:
        import re

        for a in v:
            if not re.fullmatch(r"--[a-z][a-z0-9-]*(=" + _SLURM_VALUE + ")?", a):
                raise ValueError(f"each sbatch arg is one --option[=value] word without spaces or quotes, got {a!r}")
        return v


class ExecutorSpec(Strict):
    kind: Literal["local", "docker", "podman", "enroot", "slurm"] = "local"
    """``slurm``: submit the sweep as a Slurm job (``slurm`` below); an ``image`` then runs each
    process in that container through pyxis (``srun --container-image``)."""
    slurm: SlurmSpec | None = None
    image: str | None = None
    """Container image, pinned: a tag other than ``latest``, or a digest (``name@sha256:...``)."""
    shm_size: str = "16g"
    """Shared memory for the container (NCCL and PyTorch workers need more than the 64 MB default)."""
    gpus: str | None = None
    """GPUs handed to the container: ``all`` or a comma list of indices; default: as the layout needs."""
    mounts: list[str] = Field(default_factory=list)
    """``HOST:CONTAINER[:ro]`` bind mounts; the model folder is mounted read-only without being listed."""
    runtime_args: list[str] = Field(default_factory=list)
    """Extra arguments for the runtime (``docker run``), e.g. ``--device=/dev/kfd`` on AMD."""

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "@sha256:" in v:
            return v
        tail = v.rsplit("/", 1)[-1]
        if ":" not in tail or tail.endswith(":latest"):
            raise ValueError(f"pin the image to a version tag or digest, not {v!r} (benchmarks must be reproducible)")
        return v

    @model_validator(mode="after")
    def _slurm_section(self) -> "ExecutorSpec":
        if self.slurm is not None and self.kind != "slurm":
            raise ValueError("slurm: only with kind: slurm")
        if self.kind == "slurm" and self.slurm is None:
            self.slurm = SlurmSpec()
        return self

    @field_validator("shm_size")
    @classmethod
    def _size(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[0-9]+[bkmgBKMG]?", v):
            raise ValueError(f"a size such as 16g or 512m, got {v!r}")
        return v


class HardwareSpec(Strict):
    name: str = "cpu"
    gpus: int = Field(default=1, ge=1, le=MAX_GPUS)
    """Accelerators serving the model (for a CPU, 1): the divisor of per-GPU throughput."""
    gpus_per_node: int = Field(default=8, ge=1)
    """Accelerators per host; a layout needing more spans several nodes (multi-node rendering)."""


SpecMethod = Literal["none", "mtp", "eagle", "eagle3", "draft_model", "ngram"]


class WorkerGroup(Strict):
    """One role of a disaggregated deployment: ``workers`` identical servers of one layout."""

    workers: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    tp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    ep: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    dp_attention: bool = False
    pp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    args: dict[str, ArgValue] = Field(default_factory=dict)
    """Extra flags for this role only (added after ``engine.args``)."""

    @property
    def gpus_per_worker(self) -> int:
        return self.tp * self.pp

    @property
    def gpus(self) -> int:
        return self.workers * self.gpus_per_worker


class Layout(Strict):
    """How the model is spread over the hardware. Field names follow InferenceX's search space.

    Aggregated serving uses the flat fields; a disaggregated deployment sets ``prefill`` and
    ``decode`` instead (and leaves tp/ep/dp_attention/pp at their defaults).
    """

    tp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    ep: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    dp_attention: bool = False
    """Data-parallel attention: attention replicated per rank (DP = tp), experts sharded (DeepSeek)."""
    pp: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    kv_cache_dtype: str | None = None
    spec_method: SpecMethod = "none"
    """Speculative decoding: ``mtp`` (the model's own multi-token-prediction heads), ``eagle``/``eagle3``
    and ``draft_model`` (a separate draft in ``spec_model``), ``ngram`` (prompt lookup)."""
    spec_tokens: int | None = Field(default=None, ge=1)
    """Draft depth: tokens proposed per step (MTP layers for ``mtp``)."""
    spec_model: str | None = None
    """Draft / EAGLE model path or hub id for ``eagle``, ``eagle3``, ``draft_model``."""
    prefill: WorkerGroup | None = None
    decode: WorkerGroup | None = None

    @property
    def disaggregated(self) -> bool:
        return self.prefill is not None or self.decode is not None

    @property
    def gpus(self) -> int:
        """Accelerators the layout occupies: tp x pp, or the sum over prefill and decode workers."""
        if self.disaggregated:
            return (self.prefill.gpus if self.prefill else 0) + (self.decode.gpus if self.decode else 0)
        return self.tp * self.pp

    @model_validator(mode="after")
    def _consistent(self) -> "Layout":
        if (self.prefill is None) != (self.decode is None):
            raise ValueError("a disaggregated layout sets both prefill and decode")
        if self.disaggregated and (self.tp, self.ep, self.pp, self.dp_attention) != (1, 1, 1, False):
            raise ValueError("a disaggregated layout puts tp/ep/pp/dp_attention inside prefill and decode, not at the top")
        if self.spec_tokens is not None and self.spec_method == "none":
            raise ValueError("spec_tokens set but spec_method is none")
        if self.spec_model and self.spec_method not in ("eagle", "eagle3", "draft_model"):
            raise ValueError(f"spec_model is for eagle, eagle3 or draft_model, not {self.spec_method}")
        return self


class Scenario(Strict):
    isl: int | None = Field(default=None, ge=1, le=MAX_TOKENS_PER_REQUEST)
    """Input tokens (random workload: required); other workloads take lengths from their data."""
    osl: int | None = Field(default=None, ge=1, le=MAX_TOKENS_PER_REQUEST)
    """Output tokens (random workload: required; dataset: the fallback output length)."""
    random_range_ratio: float = Field(default=1.0, gt=0, le=1)
    """Lengths are drawn uniformly from [ratio x L, L] (InferenceX uses 0.8)."""
    name: str | None = None
    workload: Workload = Field(default_factory=RandomWorkload)
    """What traffic is sent (servemark.recipe.workload); random tokens unless set."""
    prefix_cache: PrefixCache = "off"
    """Engine prefix caching for this scenario; ``on`` starts the engine with it (a scenario with
    another setting gets its own engine instance) and random prompts get a per-run salt."""

    @field_validator("prefix_cache", mode="before")
    @classmethod
    def _yaml_bool(cls, v: object) -> object:
        return on_off(v)

    @model_validator(mode="after")
    def _lengths(self) -> "Scenario":
        if self.workload.kind == "random" and (self.isl is None or self.osl is None):
            raise ValueError("a random workload needs isl and osl")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.workload.kind == "random":
            return f"{self.isl}/{self.osl}"
        return self.workload_key

    @property
    def workload_key(self) -> str:
        return workload_key(self.workload, self.prefix_cache == "on")


class RequestCount(Strict):
    per_conc: int = Field(default=10, ge=0, le=MAX_REQUESTS_PER_POINT)
    min: int = Field(default=20, ge=1, le=MAX_REQUESTS_PER_POINT)

    def count(self, conc: int) -> int:
        return max(self.min, self.per_conc * conc)


class WarmupCount(Strict):
    per_conc: int = Field(default=2, ge=0, le=MAX_REQUESTS_PER_POINT)
    min: int = Field(default=2, ge=0, le=MAX_REQUESTS_PER_POINT)

    def count(self, conc: int) -> int:
        return max(self.min, self.per_conc * conc)


class Gsm8kCheck(Strict):
    """``evals.gsm8k``: lm-eval-compatible GSM8K on the endpoint under test (servemark.evals)."""

    limit: int | None = Field(default=None, ge=1)
    """First N test items; null: all 1,319."""
    shots: int = Field(default=5, ge=0)
    max_tokens: int = Field(default=256, ge=1)
    metric: Literal["strict", "flexible"] = "strict"
    min_score: float | None = Field(default=None, ge=0, le=1)
    """Gate: the point's engine config fails below this score; null: measure only."""
    data: str | None = None
    """A local test.jsonl (or a folder with test/train); null: servemark's cached download."""


class AgreementReference(Strict):
    """The trusted deployment to compare with: a live endpoint or a file saved from one."""

    base_url: str | None = None
    model: str | None = None
    """Served model name at ``base_url``; defaults to the one under test."""
    api: Literal["completions", "chat"] | None = None
    file: str | None = None
    """A reference saved by ``servemark eval agreement --save-reference``."""

    @model_validator(mode="after")
    def _one_source(self) -> "AgreementReference":
        if (self.base_url is None) == (self.file is None):
            raise ValueError("give exactly one of base_url or file")
        return self


class AgreementCheck(Strict):
    """``evals.agreement``: greedy first-N-token agreement with a reference deployment."""

    reference: AgreementReference
    limit: int = Field(default=32, ge=1)
    tokens: int = Field(default=64, ge=1)
    shots: int = Field(default=5, ge=0)
    min_token_agreement: float | None = Field(default=None, ge=0, le=1)
    min_identical: float | None = Field(default=None, ge=0, le=1)
    tokenizer: str | None = None
    data: str | None = None


class EvalsSpec(Strict):
    """Accuracy gates run after a sweep on the same engine instance."""

    gsm8k: Gsm8kCheck | None = None
    agreement: AgreementCheck | None = None
    at: Literal["max_and_median", "max", "all"] = "max_and_median"
    """Which concurrency points of each scenario are checked (InferenceX: the highest and the
    median); each check runs with that many requests in flight."""


def initial_concurrencies(lo: int, hi: int) -> list[int]:
    """An adaptive sweep's first points: both bounds and their geometric middle (servemark.sweep.adaptive)."""
    return sorted({lo, round(math.sqrt(lo * hi)), hi})


class AdaptiveSpec(Strict):
    """``concurrency: adaptive``: where to look and when to stop (servemark.sweep.adaptive)."""

    min: int = Field(default=1, ge=1)
    max: int = Field(default=256, ge=1)
    budget: int = Field(default=8, ge=3)
    """Most points measured per layout and scenario."""
    tolerance: float = Field(default=0.02, gt=0, lt=1)
    """Stop when the frontier's estimated error (area share) is below this."""

    @model_validator(mode="after")
    def _ordered(self) -> "AdaptiveSpec":
        if self.max <= self.min:
            raise ValueError(f"adaptive.max ({self.max}) must be above adaptive.min ({self.min})")
        return self


class CeilingSpec(Strict):
    """``ceiling:``: the engine's own offline benchmark at the sweep's batches (docs/ceiling.md).

    Present in a recipe, ``servemark run`` measures it after each layout's served points (the
    server stopped, so the two never share the machine); ``servemark ceiling RECIPE`` measures only it.
    """

    batches: list[int] | None = None
    """Batch sizes; null: the recipe's concurrencies (a ceiling per served point)."""
    rounds: int = Field(default=2, ge=1, le=MAX_REQUESTS_PER_POINT)
    """vLLM: prompts per batch size = batch x rounds (the engine keeps ``batch`` in flight)."""
    warmup: bool = True
    """vLLM: one batch of warm-up prompts before the timed ones (llama.cpp and SGLang warm up themselves)."""
    args: dict[str, ArgValue] = Field(default_factory=dict)
    """Extra flags for the benchmark tool, after servemark's (``null`` drops an engine arg it inherited)."""
    timeout_s: float = Field(default=1800.0, gt=0, le=MAX_TIMEOUT_S)
    """Wall-clock limit for one benchmark command."""

    @field_validator("batches")
    @classmethod
    def _positive_unique(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(not 1 <= b <= MAX_CONCURRENCY for b in v) or len(set(v)) != len(v)):
            raise ValueError(f"batches must be unique integers 1..{MAX_CONCURRENCY}, got {v}")
        return v


class Recipe(Strict):
    name: str = Field(min_length=1)
    """Part of run ids and run folders, so path-safe (``SAFE_NAME``)."""
    description: str = ""
    model: ServedModel
    engine: EngineSpec
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    precision: str = "bf16"
    layouts: list[Layout] = Field(default_factory=lambda: [Layout()], min_length=1)
    scenarios: list[Scenario] = Field(min_length=1)
    concurrency: list[int] | Literal["adaptive"] = Field(default_factory=list)
    """Closed-loop points: this many requests in flight, or ``adaptive``: concurrencies chosen
    while sweeping within ``adaptive``'s bounds."""
    adaptive: AdaptiveSpec = Field(default_factory=AdaptiveSpec)
    rates: list[float] = Field(default_factory=list)
    """Open-loop points: mean request arrivals per second (beside or instead of ``concurrency``)."""
    arrival: Literal["poisson", "gamma", "constant"] = "poisson"
    """Arrival process of ``rates`` points."""
    burstiness: float = Field(default=1.0, gt=0)
    """``gamma`` arrivals: shape of the inter-arrival times (< 1 burstier than Poisson, > 1 smoother)."""
    slo: Slo | None = None
    """Goodput and pass/fail per point (servemark.recipe.workload.Slo)."""
    slo_search: SloSearch | None = None
    """After the listed points, search the highest rate / concurrency meeting ``slo``."""
    trials: int = Field(default=1, ge=1)
    """Measurement windows per point (each stored in ``trials``; the point is their mean with a
    t-interval). One trial gets a bootstrap-over-requests interval (docs/metrics.md "Intervals")."""
    restart_between_trials: bool = False
    """Stop and start the engine between trials of a point (slower; includes start-up variation)."""
    requests_per_point: RequestCount = Field(default_factory=RequestCount)
    warmup: WarmupCount = Field(default_factory=WarmupCount)
    api: Literal["completions", "chat"] = "completions"
    seed: int = Field(default=0, ge=0, lt=2**32)
    request_timeout_s: float = Field(default=600.0, gt=0, le=MAX_TIMEOUT_S)
    """Longest one request may take (seconds, whole response) before it fails as ``timeout``."""
    max_failure_rate: float = Field(default=DEFAULT_MAX_FAILURE_RATE, ge=0, le=1)
    """A point with more failed requests than this share is flagged ``too_many_failures``."""
    evals: EvalsSpec | None = None
    """Accuracy gates (GSM8K, reference agreement); see docs/evals.md."""
    ceiling: CeilingSpec | None = None
    """The engine ceiling (engine's offline benchmark) measured with the sweep; see docs/ceiling.md."""

    @field_validator("name")
    @classmethod
    def _path_safe(cls, v: str) -> str:
        if not re.match(SAFE_NAME, v):
            raise ValueError(f"{v[:60]!r} is not a safe name: use letters, digits, '.', '_', '+', '-' "
                             "(at most 128, no '/' or '..' path), since it names run folders")
        return v

    @field_validator("concurrency", mode="before")
    @classmethod
    def _list_or_adaptive(cls, v: object) -> object:
        if isinstance(v, str) and v != "adaptive":
            raise ValueError(f"a list of concurrencies or the word adaptive, not {v!r}")
        return v

    @field_validator("concurrency", "rates")
    @classmethod
    def _positive_unique(cls, v: list | str, info: ValidationInfo) -> list | str:
        if isinstance(v, str):
            return v
        for c in v:
            if info.field_name == "concurrency" and not 1 <= c <= MAX_CONCURRENCY:
                raise ValueError(f"concurrency values must be 1..{MAX_CONCURRENCY}, got {c}")
            if not math.isfinite(c) or c <= 0 or c > MAX_RATE:
                raise ValueError(f"{info.field_name} values must be finite, > 0 and at most {MAX_RATE:g}, got {c}")
        if len(set(v)) != len(v):
            raise ValueError(f"{info.field_name} values must be unique")
        return v

    @property
    def concurrencies(self) -> list[int]:
        """The concurrencies planned up front: the list, or an adaptive sweep's first points."""
        if self.concurrency == "adaptive":
            return initial_concurrencies(self.adaptive.min, self.adaptive.max)
        return list(self.concurrency)

    @property
    def max_concurrency(self) -> int:
        """The most requests in flight the sweep may send (engines size their batch for it)."""
        if self.concurrency == "adaptive":
            return self.adaptive.max
        return max([*self.concurrency, *(max(1, math.ceil(r)) for r in self.rates)])

    @model_validator(mode="after")
    def _requests_bounded(self) -> "Recipe":
        conc = [self.adaptive.max] if self.concurrency == "adaptive" else self.concurrency  # adaptive: its upper bound
        in_flight = [*conc, *(math.ceil(r) for r in self.rates)]  # as recipe.expand counts them
        top = max(in_flight, default=0)
        n = self.requests_per_point.count(top) + self.warmup.count(top) if in_flight else 0
        if n > MAX_REQUESTS_PER_POINT:
            raise ValueError(f"requests_per_point: {n} requests at concurrency {top} (more than {MAX_REQUESTS_PER_POINT})")
        return self

    @model_validator(mode="after")
    def _some_load(self) -> "Recipe":
        needs_load = any(sc.workload.kind != "trace" for sc in self.scenarios)
        if needs_load and not (self.concurrency or self.rates or self.slo_search):
            raise ValueError("concurrency: give concurrency values, rates, or an slo_search")
        if self.slo_search is not None and self.slo is None:
            raise ValueError("slo_search: needs an slo to search against")
        return self

    @model_validator(mode="after")
    def _gpus_cover_layout(self) -> "Recipe":
        for i, lay in enumerate(self.layouts):
            need = lay.gpus
            what = "prefill + decode GPUs" if lay.disaggregated else "tp x pp"
            if self.hardware.name != "cpu" and need > self.hardware.gpus:
                raise ValueError(
                    f"layouts.{i}: {what} = {need} needs more than hardware.gpus = {self.hardware.gpus}"
                )
        return self
