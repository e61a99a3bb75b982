"""Run a recipe: per layout start the engine once, measure each point, store it at once.

Data flows one way: recipe -> planned points -> (engine up) -> prompts -> load generator ->
request records -> point metrics -> store. Each point is written to the DuckDB file and its
records to Parquet the moment it completes, so a crash or Ctrl-C keeps everything measured so
far; the engine is stopped in a ``finally`` on every path.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass, field
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
from servemark.recipe.expand import PlannedPoint, expand, planned_point, recipe_hash
from servemark.recipe.schema import Layout, Recipe
from servemark.store import Store
from servemark.store.db import StoreLockedError
from servemark.store.owner import this_owner
from servemark.loadgen import LoadSpec, run_load
from servemark.loadgen.records_io import write_records
from servemark.loadgen.schedule import open_schedule
from servemark.metrics import summarize
from servemark.metrics.intervals import summarise_trials, with_request_intervals
from servemark.metrics.summarize import window
from servemark.sweep.adaptive import Measured, next_concurrency
from servemark.sweep import resume
from servemark.sweep.identity import planned_ids, point_id as make_point_id, point_key
from servemark.sweep.provenance import host_info
from servemark.telemetry.energy import EnergyMeter, apply_to_point
from servemark.executors.runtime import Runtime, resolve_runtime
from servemark.workload.random_tokens import RandomPromptBuilder
from servemark.workload.tokenizer import SERVER, open_tokenizer
from servemark.sweep.workload_build import build_workload
from servemark.workload.trace import stable_key
from servemark.metrics.workload import cache_from_counters, slo_verdict
from servemark.telemetry import cache_counters
from servemark.sweep.search import slo_search


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
    recipe_dir: Path | None = None
    """Folder of the recipe file: relative dataset and trace paths are taken from it."""
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
    failures: list[dict[str, Any]] = field(default_factory=list)
    """Engine deaths and failed layouts: why (exit code or signal, log tail) and what was done."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(recipe: Recipe) -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{recipe.name}-{secrets.token_hex(2)}"


def run_recipe(recipe: Recipe, opts: SweepOptions, console: Console | None = None) -> SweepResult:
    console = console or Console(stderr=True)
    if recipe.executor.kind == "slurm" and not in_slurm_job():
        from servemark.sweep.slurm_job import run_as_job  # submit, follow, collect the bundle

        return run_as_job(recipe, opts, console)
    full = expand(recipe)
    planned = [p for p in full if opts.layouts is None or p.layout_index in opts.layouts]
    if not planned and recipe.slo_search is None:  # a search-only recipe plans no points
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
    if state.row and flush_pending(opts.db, run_dir, console) == 0:  # points measured but not stored last time
        state.done |= _stored_ids(opts.db, run_id)
    resolved = recipe.model_dump(mode="json")
    (run_dir / "recipe.json").write_text(json.dumps(resolved, indent=2))
    (run_dir / "plan.json").write_text(json.dumps([{**p.to_dict(), "point_id": ids[p.index]} for p in planned], indent=2))
    host = host_info()
    result = SweepResult(run_id=run_id, run_dir=run_dir)
    run_row = {
        "run_id": run_id, "name": recipe.name, "kind": opts.kind, "started_at": _now(), "status": "running",
        "run_dir": str(run_dir), "recipe_hash": rhash, "recipe": json.dumps(resolved),
        "engine": recipe.engine.name, "engine_version": rt.engine_version, **host, "owner": this_owner(),
    }
    if state.row:
        run_row["started_at"] = state.row["started_at"]
    with Store(opts.db) as store:
        store.upsert_run(run_row)
        if state.done:
            result.points = _stored_points(store, recipe, full, ids, run_id, opts.layouts)
    left = [p for p in planned if ids[p.index] not in state.done]
    verb = "resumed" if state.row else "run"
    console.print(f"{verb} [bold]{run_id}[/] -> {run_dir} ({len(planned) - len(left)} of {len(planned)} points measured before)")
    # adaptive points and SLO probes are numbered after every planned point of the recipe (not
    # only the chosen layouts'), so their index never names a planned point's id
    next_index = [len(full)]
    try:
        for li in _layouts_to_run(recipe, opts, planned, left):
            for key in engine_keys(recipe, li):
                todo = [p for p in left if p.engine_key == key]
                if (todo or _adaptive_left(recipe, key, result.points, run_id, rhash)
                        or _search_left(recipe, key, result.points, run_id, rhash)):
                    _run_layout(recipe, li, todo, adapter, rt, opts, run_id, run_dir, rhash, host, console,
                                result, ids, next_index, cache=key[1])
            given_up = any(f["layout"] == li and f["action"] == "layout given up" for f in result.failures)
            if recipe.ceiling is not None and opts.endpoint is None and not given_up:
                _measure_ceiling(recipe, li, recipe.layouts[li], rt, run_id, run_dir, opts, console)
        if state.row:  # stored points came first, in the store's order: back to the sweep's
            result.points = _in_plan_order(result.points, planned, ids)
        if result.status == "done" and any(f["action"] == "layout given up" for f in result.failures):
            result.status = "partial"
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except Exception:
        result.status = "failed"
        raise
    finally:
        pending = flush_pending(opts.db, run_dir, console)
        if result.failures:
            (run_dir / "failures.json").write_text(json.dumps(result.failures, indent=2))
        if result.status == "done" and len(result.points) < len(planned):
            result.status = "partial"  # a layout measured fewer points than planned
        run_row.update(status=result.status, finished_at=_now(), owner="",
                       note="; ".join(f"layout {f['layout']}: {f['reason']}" for f in result.failures)[:2000])
        try:
            with Store(opts.db) as store:
                store.upsert_run(run_row)
                levels.refresh(store, "run_id = ?", [run_id])  # ceilings and SOL measured before this run
        except StoreLockedError as exc:
            console.print(f"[red]run row not updated[/]: {exc}")
        waiting = f"; {pending} point(s) still waiting in {run_dir / PENDING}" if pending else ""
        console.print(f"{len(result.points)} point(s) stored in {opts.db} (run {run_id}, {result.status}){waiting}")
    return result


def _layouts_to_run(recipe: Recipe, opts: SweepOptions, planned: list[PlannedPoint],
                    left: list[PlannedPoint]) -> list[int]:
    """Layouts with points still to measure; with adaptive concurrency or an ``slo_search``, every
    chosen layout (its adaptive points or probes may be left, e.g. on resume, and a search-only
    recipe plans no points): ``_adaptive_left``/``_search_left`` then say which engines start."""
    chosen = range(len(recipe.layouts)) if opts.layouts is None else opts.layouts
    todo = {p.layout_index for p in left}
    if recipe.concurrency == "adaptive" or recipe.slo_search is not None:
        todo |= set(chosen)
    return sorted(li for li in todo if li in chosen)


def engine_keys(recipe: Recipe, li: int | None = None) -> list[tuple[int, bool]]:
    """(layout index, prefix cache) of each engine instance the recipe needs (of layout ``li``
    only, when given), in run order."""
    caches = [c for c in (False, True) if any((sc.prefix_cache == "on") == c for sc in recipe.scenarios)]
    lis = range(len(recipe.layouts)) if li is None else [li]
    return [(i, c) for i in lis for c in caches]


def _stored_points(store: Store, recipe: Recipe, full: list[PlannedPoint], ids: dict[int, str], run_id: str,
                   layouts: list[int] | None) -> list[Point]:
    """The run's stored points that belong to this sweep: its planned points, and the adaptive
    points and SLO probes (not in any plan) of its layouts."""
    mine = set(ids.values())
    others = set(planned_ids(recipe, full, run_id).values()) - mine
    lays = None if layouts is None else [recipe.layouts[li].model_dump(mode="json") for li in layouts]
    return [p for p in store.points("run_id = ?", [run_id])
            if p.point_id in mine or (p.point_id not in others and (lays is None or p.layout in lays))]


def _adaptive_known(recipe: Recipe, li: int, sc: Any, points: list[Point], run_id: str, rhash: str) -> list[Point]:
    """The closed-loop points of layout ``li`` and scenario ``sc`` among ``points`` (measured now or,
    on resume, before): found by their ids, which do not depend on when they were measured."""
    spec = recipe.adaptive
    want = {make_point_id(run_id, point_key(recipe, planned_point(recipe, 0, li, sc, c, None), rhash=rhash))
            for c in range(spec.min, spec.max + 1)}
    return [p for p in points if p.point_id in want]


def _adaptive_scenarios(recipe: Recipe, cache: bool) -> list[Any]:
    return [sc for sc in recipe.scenarios if (sc.prefix_cache == "on") == cache and sc.workload.kind != "trace"]


def _adaptive_left(recipe: Recipe, key: tuple[int, bool], points: list[Point], run_id: str, rhash: str) -> bool:
    """Whether an adaptive sweep still places points on this engine instance given what is stored
    (a resumed run interrupted after its first points)."""
    if recipe.concurrency != "adaptive":
        return False
    spec = recipe.adaptive
    return any(next_concurrency([_as_measured(p) for p in _adaptive_known(recipe, key[0], sc, points, run_id, rhash)],
                                spec.budget, spec.tolerance) is not None
               for sc in _adaptive_scenarios(recipe, key[1]))


def _in_plan_order(points: list[Point], planned: list[PlannedPoint], ids: dict[int, str]) -> list[Point]:
    """``points`` in plan order, each adaptive point or probe right after the last planned point of
    its layout, prefix-cache setting and scenario (where a fresh run measures it)."""
    pos = {ids[pp.index]: i for i, pp in enumerate(planned)}

    def group(p: Point) -> str:
        return json.dumps([p.layout, p.prefix_cache, p.scenario, p.workload], sort_keys=True, default=str)

    last: dict[str, int] = {}
    for p in points:
        if p.point_id in pos:
            last[group(p)] = max(last.get(group(p), -1), pos[p.point_id])
    return sorted(points, key=lambda p: pos[p.point_id] if p.point_id in pos else last.get(group(p), len(pos)) + 0.5)


class _ProbeMissing(Exception):
    """A replayed SLO search reached a probe the store does not hold."""


def _search_left(recipe: Recipe, key: tuple[int, bool], points: list[Point], run_id: str, rhash: str) -> bool:
    """Whether an SLO search of this engine instance still needs a probe: the search is replayed on
    the stored probes (it is deterministic given their verdicts) until one is missing."""
    if recipe.slo_search is None:
        return False
    have = {p.point_id: p for p in points}

    def stored(pp: PlannedPoint, extra: dict[str, Any]) -> Point:
        pid = make_point_id(run_id, point_key(recipe, pp, rhash=rhash, probe=extra["slo_search"]["probe"]))
        if pid not in have:
            raise _ProbeMissing
        return have[pid]

    for sc in recipe.scenarios:
        if (sc.prefix_cache == "on") == key[1] and sc.workload.kind != "trace":
            try:
                slo_search(recipe, sc, key[0], stored, [0], Console(file=io.StringIO()))
            except _ProbeMissing:
                return True
    return False


def _stored_ids(db: Path, run_id: str) -> set[str]:
    with Store(db) as store:
        return {r["point_id"] for r in store.query("SELECT point_id FROM points WHERE run_id = ?", [run_id])}


PENDING = "pending"
"""Folder of the run where a measured point waits when the store stayed locked (written later)."""
TRIAL_SUFFIX = ".trial.json"


def store_point(db: Path, point: Point, run_dir: Path, console: Console, table: str = "points") -> bool:
    """Write ``point`` to the store (table ``points``, or ``trials`` for a trial row); if the store
    stays locked past the bound, keep it on disk.

    The point is first written to ``<run>/pending/<point_id>.json`` (``.trial.json`` for a trial)
    and that file is removed once the store holds it, so a measured point is never dropped: the
    next point's write, the end of the run and :func:`flush_pending` retry it.
    """
    folder = run_dir / PENDING
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{point.point_id}{TRIAL_SUFFIX}" if table == "trials" else f"{point.point_id}.json")
    path.write_text(json.dumps(point.to_dict()))
    flush_pending(db, run_dir, console)
    return not path.exists()


def flush_pending(db: Path, run_dir: Path, console: Console) -> int:
    """Write every point waiting in ``<run>/pending`` to the store; return how many still wait."""
    folder = run_dir / PENDING
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return 0
    try:
        with Store(db) as store:
            rows = [(f.name.endswith(TRIAL_SUFFIX), Point.from_dict(json.loads(f.read_text()))) for f in files]
            store.add_trials([p for is_trial, p in rows if is_trial])
            store.add_points([p for is_trial, p in rows if not is_trial])
    except StoreLockedError as exc:
        console.print(f"[yellow]store busy[/]: {exc}; {len(files)} point(s) kept in {folder}, retried later")
        return len(files)
    for f in files:
        f.unlink()
    return 0


def _run_layout(
    recipe: Recipe, li: int, todo: list[PlannedPoint], adapter: Any, rt: Runtime, opts: SweepOptions,
    run_id: str, run_dir: Path, rhash: str, host: dict[str, Any], console: Console, result: SweepResult,
    ids: dict[int, str], next_index: list[int] | None = None, cache: bool = False,
) -> None:
    """Measure the points of one engine instance (a layout and prefix-cache setting), appending each
    to ``result.points`` (and the store) as it completes; then any SLO search of its scenarios.

    Never measures against a dead engine: the engine is checked before and after every point, and
    a point measured while it died is discarded. The first death is recorded (exit code or signal,
    log tail), the engine restarted and the point retried; a second death marks the layout failed
    (``result.failures``) and the sweep goes on with the next layout.
    """
    out = result.points
    layout = recipe.layouts[li]
    try:
        adapter.validate(recipe, layout)
    except ValueError as exc:
        raise ServemarkError(f"layouts.{li}: {exc}") from None
    nodes = job_nodes() if in_slurm_job() else None
    ctx = RenderContext(recipe=recipe, layout=layout, model_path=rt.model_path, python=rt.python, binary=rt.binary,
                        prefix_cache=cache, **({"nodes": [n.address for n in nodes]} if nodes else {}))
    launches = adapter.render(ctx)
    tag = f"L{li}-pc" if cache else f"L{li}"
    (run_dir / f"launch-{tag}.json").write_text(json.dumps([lg.to_dict() for lg in launches], indent=2))
    servers = [make_server(lg, run_dir / f"engine-{tag}-{lg.name}.log", recipe, rt.model_path, workdir=str(run_dir),
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
    restarts = ENGINE_RESTARTS

    def engine_died(pp: PlannedPoint) -> bool:
        """Record a death; restart once. True when the layout must be given up."""
        nonlocal restarts
        dead = next(srv for srv in servers if not srv.alive())
        failure = {"layout": li, "point": pp.label, "process": dead.launch.name, "reason": dead.exit_reason(),
                   "log": str(dead.log_path), "log_tail": log_tail(dead.log_path, 15),
                   "action": "restarted, point retried" if restarts else "layout given up"}
        result.failures.append(failure)
        console.print(f"[red]engine {dead.launch.name} {failure['reason']}[/] at {pp.label}; {failure['action']} "
                      f"(log {dead.log_path})")
        for srv in reversed(servers):
            srv.stop()
        if not restarts:
            return True
        restarts -= 1
        for srv in servers:
            _start(srv, recipe.engine.startup_timeout_s, console)
        return False

    try:
        for srv in servers:
            _start(srv, recipe.engine.startup_timeout_s, console)
        if rt.tokenizer_path == SERVER:
            builder, tok_label = _prompt_builder(SERVER, base_url, front.served_model, opts, recipe.seed)

        before = {p.point_id: p for p in out}
        pctx = _PointContext(recipe, layout, launches, rt, opts, run_id, run_dir, rhash, host, console, base_url,
                             builder, tok_label, meter, servers)

        def measure(pp: PlannedPoint, extra: dict[str, Any] | None = None) -> Point:
            """Measure, store and return one point; SLO-search probes and adaptive points come here too."""
            # an SLO-search probe is not in the plan: its id also names the probe (a probe may
            # repeat a planned load, and must not replace that point)
            pid = ids.get(pp.index) or make_point_id(
                run_id, point_key(recipe, pp, rhash=rhash, probe=(extra or {}).get("slo_search", {}).get("probe")))
            if pid in before:  # a probe or adaptive point stored before a resume: its search goes on from it
                return before[pid]
            point = _measure_point(pctx, pp, pid, extra or {}, engine_died)
            if point is None:
                raise _LayoutGivenUp
            out.append(point)
            return point

        meter.start()
        try:
            adaptive = _adaptive_scenarios(recipe, cache) if recipe.concurrency == "adaptive" else []
            groups = [(g[0].scenario, g) for g in _by_scenario(todo)]
            groups += [(sc, []) for sc in adaptive if not any(sc is s for s, _ in groups)]  # none left (resume)
            for sc, sc_todo in groups:
                for pp in sc_todo:
                    measure(pp)
                if any(sc is a for a in adaptive):  # then the scenario's adaptive points, stored ones counted
                    known = _adaptive_known(recipe, li, sc, out, run_id, rhash)  # closed loop only
                    _adaptive_rest(recipe, li, sc, known, next_index or [len(out)], measure)
            if recipe.slo_search is not None:
                for sc in recipe.scenarios:
                    if (sc.prefix_cache == "on") == cache and sc.workload.kind != "trace":
                        slo_search(recipe, sc, li, measure, next_index or [len(out)], console)
        except _LayoutGivenUp:
            return  # the layout failed; its remaining points are not measured
        _run_evals(recipe, base_url, front.served_model, opts, run_id, out[done_before:], console)
    finally:
        meter.stop()
        for srv in reversed(servers):
            srv.stop()


class _LayoutGivenUp(Exception):
    """The layout's engine died again after its one restart: stop measuring this layout."""


ENGINE_RESTARTS = 1
"""How often an engine that died mid-sweep is restarted before its layout is marked failed."""


def _measure_alive(pp: PlannedPoint, servers: list[Any], engine_died: Any, measure: Any) -> Point | None:
    """``measure()`` with a live engine before and after it; retried after a restart, None when given up."""
    while True:
        if servers and not all(s.alive() for s in servers):
            if engine_died(pp):
                return None
            continue
        point = measure()
        if servers and not all(s.alive() for s in servers):
            continue  # measured against an engine that died meanwhile: discard, restart, retry
        return point


@dataclass
class _PointContext:
    """What measuring one point of an engine instance needs (the engine is up)."""

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
    builder: RandomPromptBuilder
    tok_label: str
    """The tokenizer recorded on each point."""
    meter: EnergyMeter
    servers: list[LocalServer]
    salt_nonce: int = field(default_factory=lambda: secrets.randbits(32))
    """Drawn per invocation and part of every prefix-cache salt: a resumed run (same run id) never
    re-sends the text an interrupted attempt already put in the cache of a server that kept
    running (``--endpoint``)."""


def _by_scenario(todo: list[PlannedPoint]) -> list[list[PlannedPoint]]:
    groups: dict[int, list[PlannedPoint]] = {}
    for pp in todo:
        groups.setdefault(id(pp.scenario), []).append(pp)
    return list(groups.values())


def _measure_point(c: _PointContext, pp: PlannedPoint, point_id: str, extra: dict[str, Any],
                   engine_died: Any) -> Point | None:
    """Measure ``recipe.trials`` windows of one planned point, store each trial and their summary.

    Each trial is a full measurement (its own warm-up, excluded, and window) with prompts and
    arrivals of its own seed, against a live engine (:func:`_measure_alive`); with
    ``restart_between_trials`` the engine is restarted before every trial but the first. The
    summary point is the mean of the trials with t-intervals, or, for one trial, the trial itself
    with bootstrap-over-requests intervals (``metrics.intervals``). None when the layout was given up.
    """
    recipe = c.recipe
    trials: list[Point] = []
    for t in range(recipe.trials):
        if t and recipe.restart_between_trials and c.servers:
            for srv in reversed(c.servers):
                srv.stop()
            for srv in c.servers:
                _start(srv, recipe.engine.startup_timeout_s, c.console)
        tid = make_point_id(c.run_id, point_key(recipe, pp, trial=t, rhash=c.rhash,
                                                probe=extra.get("slo_search", {}).get("probe")))
        point = _measure_alive(pp, c.servers, engine_died, lambda: _run_point(c, pp, extra, tid, t))
        if point is None:
            return None
        point.extra.update(placement(c.servers))
        point.trial, point.trial_of = t, point_id
        trials.append(point)
        store_point(c.opts.db, point, c.run_dir, c.console, table="trials")
        if recipe.trials > 1:
            c.console.print(f"  trial {t + 1}/{recipe.trials}: " + _point_line(point))
    summary = Point.from_dict({**summarise_trials([p.to_dict() for p in trials]),
                               "point_id": point_id, "trial": None, "trial_of": "",
                               "started_at": trials[0].started_at})
    store_point(c.opts.db, summary, c.run_dir, c.console)
    c.console.print(_point_line(summary))
    return summary


def _adaptive_rest(recipe: Recipe, li: int, sc: Any, first: list[Point], next_index: list[int],
                   measure: Any) -> None:
    """After a scenario's first points: measure where the frontier is least certain (sweep.adaptive).
    Each new point is planned like any closed-loop point of the scenario (a multi-turn point's
    request count is its sessions x turns; never a copy of a rate point)."""
    spec = recipe.adaptive
    pts = [_as_measured(p) for p in first]
    while (conc := next_concurrency(pts, spec.budget, spec.tolerance)) is not None:
        pp = planned_point(recipe, next_index[0], li, sc, conc, None)
        next_index[0] += 1
        pts.append(_as_measured(measure(pp)))


def _as_measured(p: Point) -> Measured:
    iv = (p.intervals or {}).get("tput_per_gpu")
    half = (iv[1] - iv[0]) / 2 if iv else 0.0
    return Measured(conc=p.conc, x=p.median_intvty or 1e-9, y=p.tput_per_gpu or 0.0, y_half=half)


def _run_point(c: _PointContext, pp: PlannedPoint, extra: dict[str, Any], point_id: str, trial: int) -> Point:
    """One trial: build the requests, run the load, write records and summarise (not yet stored)."""
    recipe, layout, launches, rt, opts = c.recipe, c.layout, c.launches, c.rt, c.opts
    run_id, run_dir, rhash, host, meter, console, base_url = c.run_id, c.run_dir, c.rhash, c.host, c.meter, c.console, c.base_url
    sc = pp.scenario
    seed = recipe.seed + trial  # each trial its own prompts and arrivals
    # prefix caching on: a salt per point (and trial), so no window's text is a prefix another cached
    salt = (stable_key(recipe.seed, run_id, c.salt_nonce, pp.index, *([trial] if trial else []))
            if pp.prefix_cache else seed)
    wl = build_workload(sc, c.builder, pp.num_requests, pp.num_warmup, seed, salt, recipe.api, opts.recipe_dir)
    mode = "sessions" if wl.sessions is not None else ("open" if wl.offsets is not None or pp.rate else "closed")
    if wl.sessions is not None and pp.rate:  # sessions arrive at the rate (open loop over sessions)
        starts = open_schedule(len(wl.sessions), pp.rate, recipe.arrival, recipe.burstiness, seed)
        for s, t in zip(wl.sessions, starts):
            s.start_s = t
    spec = LoadSpec(
        base_url=base_url, model=launches[-1].served_model, api=recipe.api, prompts=wl.prompts,
        concurrency=pp.conc, num_requests=wl.num_requests, num_warmup=pp.num_warmup, mode=mode,
        request_rate=pp.rate, arrival=recipe.arrival, burstiness=recipe.burstiness, offsets=wl.offsets,
        sessions=wl.sessions, api_key=opts.api_key, workers=opts.workers, point_id=point_id, seed=seed,
        timeout_s=recipe.request_timeout_s,
    )
    started = _now()
    counters = cache_counters.sample(base_url, launches[-1].metrics_path)
    load = _measure(spec, pp, console)
    write_records(load.records, run_dir / "records" / f"{point_id}.parquet")
    fields = summarize(load.records, gpu_count=_gpu_count(recipe, layout), client=load.client,
                       max_failure_rate=recipe.max_failure_rate, **_disagg_gpus(layout))
    if "cache_source" not in fields and counters:
        fields.update(cache_from_counters(counters, cache_counters.sample(base_url, launches[-1].metrics_path),
                                          fields["total_input_tokens"]))
    if recipe.slo is not None:
        meas = [r for r in load.records if not r.warmup]
        fields.update({k: v for k, v in slo_verdict([r for r in meas if r.ok], len(meas), fields["duration"],
                                                    recipe.slo.bounds_s(), recipe.slo.percentile,
                                                    recipe.slo.min_good_fraction).items() if k != "slo_values_s"})
    if recipe.trials == 1:
        fields = with_request_intervals(fields, load.records, seed=recipe.seed)
    point = _make_point(recipe, pp, layout, launches, rt, run_id, point_id, rhash, host, started, fields)
    point.tokenizer = c.tok_label
    if sc.workload.kind != "random":
        point.isl, point.osl = wl.nominal_lengths()
    point.extra.update(extra)
    _add_energy(point, meter, window([r for r in load.records if not r.warmup]))
    return point


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
        spec_method=layout.spec_method, isl=sc.isl or 0, osl=sc.osl or 0,
        random_range_ratio=sc.random_range_ratio, conc=pp.conc, request_rate=pp.rate,
        scenario=sc.label, workload=pp.workload, workload_kind=sc.workload.kind,
        workload_params=json.dumps(sc.workload.model_dump(mode="json"), sort_keys=True)
        if sc.workload.kind != "random" else "",
        prefix_cache=pp.prefix_cache,
        slo=json.dumps(recipe.slo.model_dump(mode="json"), sort_keys=True) if recipe.slo else "",
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
    point.flags = list(dict.fromkeys(point.flags))  # each flag once
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
    if p.request_rate is not None:
        return f"rate {p.request_rate:g}/s"
    return f"conc {p.conc:>4}" if p.conc else "trace"


def _point_line(p: Point) -> str:
    def f(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    flags = f" [yellow]{','.join(p.flags)}[/]" if p.flags else ""
    cache = f", cached {p.cached_tokens} tok" if p.cached_tokens is not None else ""
    slo = "" if p.slo_met is None else (", [green]SLO met[/]" if p.slo_met else ", [red]SLO missed[/]")
    return (
        f"[green]✓[/] {_load(p)}: {f(p.tput_per_gpu, '.1f')} tok/s/GPU, {f(p.median_intvty, '.1f')} tok/s/user, "
        f"TTFT p50 {f(p.median_ttft and p.median_ttft * 1e3, '.0f')} ms, {p.completed}/{p.num_requests} ok{cache}{slo}{flags}"
    )
