"""Run a recipe: per layout start the engine once, measure each point, store it at once.

Data flows one way: recipe -> planned points -> (engine up) -> prompts -> load generator ->
request records -> point metrics -> store. Each point is written to the DuckDB file and its
records to Parquet the moment it completes, so a crash or Ctrl-C keeps everything measured so
far; the engine is stopped in a ``finally`` on every path.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from servemark.ceiling import levels
from servemark.engines import RenderContext, adapter_for
from servemark.errors import ServemarkError
from servemark.evals import run_recipe_evals
from servemark.executors import make_server
from servemark.executors.local import LocalServer, log_tail
from servemark.point import Point
from servemark.executors.placement import in_slurm_job, job_nodes, placement
from servemark.recipe.expand import PlannedPoint, expand, recipe_hash
from servemark.recipe.schema import Layout, Recipe
from servemark.store import Store
from servemark.loadgen import LoadSpec, run_load
from servemark.loadgen.records_io import write_records
from servemark.metrics import summarize
from servemark.metrics.intervals import summarise_trials, with_request_intervals
from servemark.metrics.summarize import window
from servemark.sweep.adaptive import Measured, next_concurrency
from servemark.sweep import resume
from servemark.sweep import identity
from servemark.sweep.identity import planned_ids
from servemark.sweep.provenance import host_info
from servemark.telemetry.energy import EnergyMeter, apply_to_point
from servemark.executors.runtime import Runtime, resolve_runtime
from servemark.workload.random_tokens import RandomPromptBuilder
from servemark.workload.tokenizer import SERVER, open_tokenizer


@dataclass
class SweepOptions:
    db: Path
    runs_dir: Path
    api_key: str | None = None
    """Sent as a bearer token; never written to the run folder, the store or a log."""
    workers: int = 1
    endpoint: str | None = None
    """Measure a server that is already running at this base URL instead of starting the engine."""
    kind: str = "sweep"
    """The run row's kind: ``sweep`` (a recipe), ``external`` (``servemark bench`` of a running server)."""
    resume: str | None = None
    """Continue this run (``latest``: the newest unfinished run of the recipe), measuring only missing points."""
    run_id: str | None = None
    """Write to this run id, continuing it if the store has it (what a Slurm job passes: requeue-safe)."""
    layouts: list[int] | None = None
    """Only these layout indices (a job-array task measures one layout)."""


@dataclass
class SweepResult:
    run_id: str
    run_dir: Path
    points: list[Point] = field(default_factory=list)
    status: str = "done"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(recipe: Recipe) -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{recipe.name}-{secrets.token_hex(2)}"


def run_recipe(recipe: Recipe, opts: SweepOptions, console: Console | None = None) -> SweepResult:
    console = console or Console(stderr=True)
    if recipe.executor.kind == "slurm" and not in_slurm_job():
        from servemark.sweep.slurm_job import run_as_job  # submit, follow, collect the bundle

        return run_as_job(recipe, opts, console)
    planned = [p for p in expand(recipe) if opts.layouts is None or p.layout_index in opts.layouts]
    if not planned:
        raise ServemarkError(f"--layout {opts.layouts}: the recipe has layouts 0..{len(recipe.layouts) - 1}")
    adapter = adapter_for(recipe.engine.name)
    rt = resolve_runtime(recipe, start_engine=opts.endpoint is None)
    if recipe.ceiling is not None:
        _check_ceiling(recipe)
    if opts.endpoint:  # a run is recorded only once its endpoint answered
        check_endpoint(opts.endpoint, opts.api_key)
    rhash = recipe_hash(recipe)
    with Store(opts.db) as store:
        state = resume.resolve(store, recipe, rhash, new_run_id(recipe), opts.resume, opts.run_id)
    run_id = state.run_id
    ids = planned_ids(recipe, planned, run_id)
    run_dir = opts.runs_dir / run_id
    (run_dir / "records").mkdir(parents=True, exist_ok=True)
    resolved = recipe.model_dump(mode="json")
    (run_dir / "recipe.json").write_text(json.dumps(resolved, indent=2))
    (run_dir / "plan.json").write_text(json.dumps([{**p.to_dict(), "point_id": ids[p.index]} for p in planned], indent=2))
    host = host_info()
    result = SweepResult(run_id=run_id, run_dir=run_dir)
    run_row = {
        "run_id": run_id, "name": recipe.name, "kind": opts.kind, "started_at": _now(), "status": "running",
        "run_dir": str(run_dir), "recipe_hash": rhash, "recipe": json.dumps(resolved),
        "engine": recipe.engine.name, "engine_version": rt.engine_version, **host,
    }
    if state.row:
        run_row["started_at"] = state.row["started_at"]
    with Store(opts.db) as store:
        store.upsert_run(run_row)
        if state.done:
            result.points = [p for p in store.points("run_id = ?", [run_id]) if p.point_id in set(ids.values())]
    left = [p for p in planned if ids[p.index] not in state.done]
    verb = "resumed" if state.row else "run"
    console.print(f"{verb} [bold]{run_id}[/] -> {run_dir} ({len(planned) - len(left)} of {len(planned)} points measured before)")
    next_index = [len(planned)]  # adaptive points are numbered after the planned ones
    try:
        for li in sorted({p.layout_index for p in left}):
            todo = [p for p in left if p.layout_index == li]
            _run_layout(recipe, li, todo, adapter, rt, opts, run_id, run_dir, rhash, host, console, result.points, ids,
                        next_index)
            if recipe.ceiling is not None and opts.endpoint is None:
                _measure_ceiling(recipe, li, recipe.layouts[li], rt, run_id, run_dir, opts, console)
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except Exception:
        result.status = "failed"
        raise
    finally:
        if result.status == "done" and len(result.points) < len(planned):
            result.status = "partial"  # a layout measured fewer points than planned (never expected)
        run_row.update(status=result.status, finished_at=_now())
        with Store(opts.db) as store:
            store.upsert_run(run_row)
            levels.refresh(store, "run_id = ?", [run_id])  # ceilings and SOL measured before this run
        console.print(f"{len(result.points)} point(s) stored in {opts.db} (run {run_id}, {result.status})")
    return result


def _run_layout(
    recipe: Recipe, li: int, todo: list[PlannedPoint], adapter: Any, rt: Runtime, opts: SweepOptions,
    run_id: str, run_dir: Path, rhash: str, host: dict[str, Any], console: Console, out: list[Point],
    ids: dict[int, str], next_index: list[int],
) -> None:
    """Measure one layout's points, appending each to ``out`` (and the store) as it completes."""
    layout = todo[0].layout
    try:
        adapter.validate(recipe, layout)
    except ValueError as exc:
        raise ServemarkError(f"layouts.{li}: {exc}") from None
    nodes = job_nodes() if in_slurm_job() else None
    ctx = RenderContext(recipe=recipe, layout=layout, model_path=rt.model_path, python=rt.python, binary=rt.binary,
                        **({"nodes": [n.address for n in nodes]} if nodes else {}))
    launches = adapter.render(ctx)
    (run_dir / f"launch-L{li}.json").write_text(json.dumps([lg.to_dict() for lg in launches], indent=2))
    servers = [make_server(lg, run_dir / f"engine-L{li}-{lg.name}.log", recipe, rt.model_path, workdir=str(run_dir),
                           nodes=nodes)
               for lg in launches]
    if opts.endpoint:
        launches = [_external(opts.endpoint, launches[-1])]
        servers = []
    front = launches[-1]
    base_url = opts.endpoint.rstrip("/") if opts.endpoint else front.base_url
    if rt.tokenizer_path != SERVER:  # a missing local or hub tokenizer fails before an engine starts
        builder, tok_label = _prompt_builder(rt.tokenizer_path, base_url, front.served_model, opts, recipe.seed)
    meter = EnergyMeter()
    done_before = len(out)
    try:
        for srv in servers:
            _start(srv, recipe.engine.startup_timeout_s, console)
        if rt.tokenizer_path == SERVER:
            builder, tok_label = _prompt_builder(SERVER, base_url, front.served_model, opts, recipe.seed)
        meter.start()
        ctx_point = _PointContext(recipe, layout, launches, rt, opts, run_id, run_dir, rhash, host, console,
                                  base_url, front.served_model, builder, tok_label, meter, servers, ids)
        for sc_todo in _by_scenario(todo):
            first = [_measure_point(ctx_point, pp) for pp in sc_todo]
            out.extend(first)
            if recipe.concurrency == "adaptive":
                closed = [p for p in first if p.request_rate is None]  # adaptive steers concurrency only
                out.extend(_adaptive_rest(ctx_point, sc_todo[0], closed, next_index))
        _run_evals(recipe, base_url, front.served_model, opts, run_id, out[done_before:], console)
    finally:
        meter.stop()
        for srv in reversed(servers):
            srv.stop()


@dataclass
class _PointContext:
    """What measuring one point of a layout needs (the engine is up)."""

    recipe: Recipe
    layout: Layout
    launches: list[Any]
    rt: Runtime
    opts: SweepOptions
    run_id: str
    run_dir: Path
    rhash: str
    host: dict[str, Any]
    console: Console
    base_url: str
    served_model: str
    builder: RandomPromptBuilder
    tok_label: str
    """The tokenizer recorded on each point."""
    meter: EnergyMeter
    servers: list[LocalServer]
    ids: dict[int, str]
    """Planned index -> point id (``sweep.identity``); adaptive points compute theirs."""


def _by_scenario(todo: list[PlannedPoint]) -> list[list[PlannedPoint]]:
    groups: dict[int, list[PlannedPoint]] = {}
    for pp in todo:
        groups.setdefault(id(pp.scenario), []).append(pp)
    return list(groups.values())


def _measure_point(c: _PointContext, pp: PlannedPoint) -> Point:
    """Measure ``recipe.trials`` windows of one planned point; store each trial and their summary.

    Each trial is a full measurement (its own warm-up, excluded, and window) with prompts of its
    own seed; with ``restart_between_trials`` the engine is restarted before every trial but the
    first. The summary point is the mean of the trials with t-intervals, or, for one trial, the
    trial itself with bootstrap-over-requests intervals (``metrics.intervals``)."""
    recipe, sc = c.recipe, pp.scenario
    point_id = c.ids.get(pp.index) or identity.point_id(c.run_id, identity.point_key(recipe, pp, rhash=c.rhash))
    trials: list[Point] = []
    for t in range(recipe.trials):
        if c.servers and not c.servers[-1].alive():
            raise ServemarkError(f"the engine died during the sweep; log {c.servers[-1].log_path}:\n{log_tail(c.servers[-1].log_path)}")
        if t and recipe.restart_between_trials and c.servers:
            for srv in reversed(c.servers):
                srv.stop()
            for srv in c.servers:
                _start(srv, recipe.engine.startup_timeout_s, c.console)
        prompts = c.builder.build(pp.num_requests + pp.num_warmup, sc.isl, sc.osl, sc.random_range_ratio)
        tid = identity.point_id(c.run_id, identity.point_key(recipe, pp, trial=t, rhash=c.rhash))
        spec = LoadSpec(
            base_url=c.base_url, model=c.served_model, api=recipe.api, prompts=prompts,
            concurrency=pp.conc, num_requests=pp.num_requests, num_warmup=pp.num_warmup,
            mode="open" if pp.rate is not None else "closed", request_rate=pp.rate, arrival=recipe.arrival,
            api_key=c.opts.api_key, workers=c.opts.workers, point_id=tid, seed=recipe.seed + t,
        )
        started = _now()
        load = _measure(spec, pp, c.console)
        write_records(load.records, c.run_dir / "records" / f"{tid}.parquet")
        fields = summarize(load.records, gpu_count=_gpu_count(recipe, c.layout), client=load.client,
                           max_failure_rate=recipe.max_failure_rate, **_disagg_gpus(c.layout))
        if recipe.trials == 1:
            fields = with_request_intervals(fields, load.records, seed=recipe.seed)
        point = _make_point(recipe, pp, c.layout, c.launches, c.rt, c.run_id, tid, c.rhash, c.host, started, fields)
        point.tokenizer = c.tok_label
        _add_energy(point, c.meter, window([r for r in load.records if not r.warmup]))
        point.extra.update(placement(c.servers))
        point.trial, point.trial_of = t, point_id
        trials.append(point)
        with Store(c.opts.db) as store:
            store.add_trials([point])
        if recipe.trials > 1:
            c.console.print(f"  trial {t + 1}/{recipe.trials}: " + _point_line(point))
    summary = Point.from_dict({**summarise_trials([p.to_dict() for p in trials]),
                               "point_id": point_id, "trial": None, "trial_of": "",
                               "started_at": trials[0].started_at})
    with Store(c.opts.db) as store:
        store.add_point(summary)
    c.console.print(_point_line(summary))
    return summary


def _adaptive_rest(c: _PointContext, like: PlannedPoint, first: list[Point], next_index: list[int]) -> list[Point]:
    """After a scenario's first points: measure where the frontier is least certain (sweep.adaptive)."""
    spec = c.recipe.adaptive
    pts = [_as_measured(p) for p in first]
    more: list[Point] = []
    while (conc := next_concurrency(pts, spec.budget, spec.tolerance)) is not None:
        pp = replace(like, index=next_index[0], conc=conc, num_requests=c.recipe.requests_per_point.count(conc),
                     num_warmup=c.recipe.warmup.count(conc))
        next_index[0] += 1
        point = _measure_point(c, pp)
        more.append(point)
        pts.append(_as_measured(point))
    return more


def _as_measured(p: Point) -> Measured:
    iv = (p.intervals or {}).get("tput_per_gpu")
    half = (iv[1] - iv[0]) / 2 if iv else 0.0
    return Measured(conc=p.conc, x=p.median_intvty or 1e-9, y=p.tput_per_gpu or 0.0, y_half=half)


def _check_ceiling(recipe: Recipe) -> None:
    """Refuse a ``ceiling:`` the engine cannot measure before any point runs, not after."""
    from servemark.ceiling.render import check_supported

    for li, lay in enumerate(recipe.layouts):
        try:
            check_supported(recipe, lay)
        except ValueError as exc:
            raise ServemarkError(f"ceiling: layouts.{li}: {exc}") from None


def _measure_ceiling(recipe: Recipe, li: int, layout: Any, rt: Runtime, run_id: str, run_dir: Path,
                     opts: SweepOptions, console: Console) -> None:
    """The layout's engine ceiling (``ceiling:``), after its server stopped: the offline benchmark
    needs the memory and cores the server held. Rows are stored as each command finishes."""
    from servemark.ceiling import store as ceiling_store
    from servemark.ceiling.run import measure_layout

    def write(rows: list[Any]) -> None:
        with Store(opts.db) as store:
            ceiling_store.write(store, rows)

    measure_layout(recipe, li, layout, rt, run_id, run_dir, write, console)


def _prompt_builder(spec: str, base_url: str, model: str, opts: SweepOptions, seed: int) -> tuple[RandomPromptBuilder, str]:
    """The prompt builder on the tokenizer the recipe names, and the label recorded on each point."""
    tok, label = open_tokenizer(spec, base_url, model, opts.api_key)
    return RandomPromptBuilder(tok, seed=seed), label


def _external(url: str, like: Any) -> Any:
    """A launch that stands for a server someone else started (nothing is started or stopped)."""
    from urllib.parse import urlparse

    from servemark.engines import Launch

    u = urlparse(url)
    if not u.scheme or not u.hostname:
        raise ServemarkError(f"--endpoint must be a base URL like http://127.0.0.1:8000, got {url!r}")
    lg = Launch(argv=[], host=u.hostname, port=u.port or (443 if u.scheme == "https" else 80),
                served_model=like.served_model, name="external")
    return lg


def check_endpoint(url: str, api_key: str | None = None) -> list[str]:
    """The model ids the server at ``url`` lists on ``/v1/models``; a clear error if it does not answer."""
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ServemarkError(f"endpoint must be a base URL like http://127.0.0.1:8000, got {url!r}")
    req = urllib.request.Request(url.rstrip("/") + "/v1/models")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the user's endpoint
            body = json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServemarkError(f"server at {url} is unreachable ({getattr(exc, 'reason', exc)})") from None
    return [m.get("id", "") for m in body.get("data", []) if isinstance(m, dict)]


def _start(srv: LocalServer, timeout_s: float, console: Console) -> None:
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[stage]}"),
                  TimeElapsedColumn(), console=console, transient=True) as prog:
        task = prog.add_task(f"starting {srv.launch.name} on :{srv.launch.port}", total=None, stage="")
        srv.start()
        waited = srv.wait_ready(timeout_s, tick=lambda w, stage: prog.update(task, stage=stage))
    console.print(f"[green]✓[/] {srv.launch.name} ready in {waited:.0f} s (log {srv.log_path})")


def _measure(spec: LoadSpec, pp: PlannedPoint, console: Console) -> Any:
    total = spec.num_requests + spec.num_warmup
    with Progress(TextColumn(f"[bold]{pp.label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as prog:
        task = prog.add_task("requests", total=total)
        return run_load(spec, progress=lambda done, tot: prog.update(task, completed=done, total=tot))


def _gpu_count(recipe: Recipe, layout: Any) -> int:
    """GPUs serving this layout (the per-GPU divisor); a CPU counts as one."""
    return recipe.hardware.gpus if recipe.hardware.name == "cpu" else max(layout.gpus, 1)


def _disagg_gpus(layout: Any) -> dict[str, int]:
    if not layout.disaggregated:
        return {}
    return {"num_prefill_gpu": layout.prefill.gpus, "num_decode_gpu": layout.decode.gpus}


def _make_point(
    recipe: Recipe, pp: PlannedPoint, layout: Layout, launches: list[Any], rt: Runtime, run_id: str, point_id: str,
    rhash: str, host: dict[str, Any], started: str, fields: dict[str, Any],
) -> Point:
    sc = pp.scenario
    point = Point(
        run_id=run_id, point_id=point_id, recipe_hash=rhash, started_at=started, finished_at=_now(),
        date=datetime.now(timezone.utc).date().isoformat(),
        model=recipe.model.name, engine=recipe.engine.name + (f"-{recipe.engine.build}" if recipe.engine.build else ""),
        engine_version=rt.engine_version, engine_args=json.dumps([lg.argv[1:] for lg in launches]),
        image=recipe.executor.image or "", hardware=recipe.hardware.name, gpu_count=_gpu_count(recipe, layout),
        disagg=layout.disaggregated,
        workers=json.dumps({"prefill": layout.prefill.model_dump(), "decode": layout.decode.model_dump()})
        if layout.disaggregated else "",
        layout=layout.model_dump(mode="json"),
        **_disagg_gpus(layout),
        precision=recipe.precision, tp=layout.tp, ep=layout.ep, dp_attention=layout.dp_attention, pp=layout.pp,
        spec_method=layout.spec_method, isl=sc.isl, osl=sc.osl, random_range_ratio=sc.random_range_ratio,
        conc=pp.conc, request_rate=pp.rate, scenario=sc.name or f"{sc.isl}/{sc.osl}",
        tokenizer=rt.tokenizer_path, seed=recipe.seed, recipe=json.dumps(recipe.model_dump(mode="json")),
        **{k: host[k] for k in ("servemark_version", "git_sha", "host", "cpu")},
    )
    for key, value in fields.items():
        if key == "flags":
            point.flags = list(value)
        elif key == "extra":
            point.extra.update(value)
        elif hasattr(point, key):
            setattr(point, key, value)
    if not point.completed:
        point.flags.append("no_completed_requests")
    return point


def _add_energy(point: Point, meter: EnergyMeter, win: tuple[float, float] | None) -> None:
    if win is not None:
        apply_to_point(point, meter.read(*win))


def _run_evals(recipe: Recipe, base_url: str, served_model: str, opts: SweepOptions, run_id: str,
               points: list[Point], console: Console) -> None:
    if recipe.evals is None:
        return
    with Store(opts.db) as store:
        for res in run_recipe_evals(recipe, base_url, served_model, store, run_id, points, api_key=opts.api_key):
            console.print(f"eval {res}")


def _load(p: Point) -> str:
    return f"rate {p.request_rate:g}/s" if p.request_rate is not None else f"conc {p.conc:>4}"


def _point_line(p: Point) -> str:
    def f(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    flags = f" [yellow]{','.join(p.flags)}[/]" if p.flags else ""
    return (
        f"[green]✓[/] {_load(p)}: {f(p.tput_per_gpu, '.1f')} tok/s/GPU, {f(p.median_intvty, '.1f')} tok/s/user, "
        f"TTFT p50 {f(p.median_ttft and p.median_ttft * 1e3, '.0f')} ms, {p.completed}/{p.num_requests} ok{flags}"
    )
