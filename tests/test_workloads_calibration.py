"""Workloads, goodput and the SLO search against the calibration server (known timings, known
capacity, injected slow requests): the whole runner, load generator, metrics and store run for real."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from servemark.calibration.plan import CalibrationPlan
from servemark.calibration.process import CalibrationServer
from servemark.loadgen.records_io import read_records
from servemark.models import demo
from servemark.engines.check import parse_recipe
from servemark.store import Store
from servemark.sweep.recipe_run import SweepOptions, run_recipe

BASE = {
    "name": "wcal",
    "model": {"name": "gemma-3-270m", "path": "auto", "served_name": "calibration"},
    "engine": {"name": "vllm"},
    "requests_per_point": {"per_conc": 2, "min": 20},
    "warmup": {"per_conc": 0, "min": 1},
}


@pytest.fixture(autouse=True)
def _tokenizer() -> None:
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")


def sweep(tmp_path: Path, url: str, **recipe: object):
    opts = SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs", endpoint=url, recipe_dir=tmp_path)
    return run_recipe(parse_recipe({**BASE, **recipe}), opts)


def records(res, point):
    return [r for r in read_records(res.run_dir / "records" / f"{point.point_id}.parquet") if not r.warmup]


QUIET_LOOP_LAG_MS = 0.5
"""The client's event-loop lag p99 (its own monitor on the kernel timer, same run; the loop timers'
1 ms grain is not in it) below which the machine counts as
lightly loaded: the 1 ms bound is a claim about servemark, not about a machine other processes
are saturating (there the test says so and skips; benchmarks/workload_trace_timing.py prints the
figure with the lag beside it)."""


QUIET_OTHER_CPUS = 0.25
"""CPUs' worth of time other processes (not this test, its server or its workers) may use during
the replay for the machine to count as lightly loaded (from ``/proc/stat``): a neighbour's burst
delays a send without showing in the client's own loop lag."""


def _cpu_busy_s() -> float:
    """Seconds of non-idle CPU time of the whole machine (``/proc/stat``; 0 where there is none)."""
    try:
        vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@pytest.mark.parametrize("heap_objects", [0, 3_000_000])
def test_trace_replay_sends_on_schedule(tmp_path: Path, heap_objects: int) -> None:
    """300 Mooncake requests 10 ms apart: each goes out within 1 ms (p99) of its scheduled time.

    Also from a caller with a big heap (a test runner's at the end of a long suite), which the load
    worker inherits by fork: its collections once scanned that heap between warmup and measured
    phase while the next phase's clock was already running, and the first requests went out late
    (18 ms in CI, 500 ms with 20 million objects)."""
    heap = [(i, str(i)) for i in range(heap_objects)]  # noqa: F841 (held for the fork)
    rows = [{"timestamp": 10 * i, "input_length": 40, "output_length": 2, "hash_ids": [i % 7]} for i in range(300)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    busy0, own0, t0 = _cpu_busy_s(), _own_cpu_s(), time.monotonic()
    with CalibrationServer(CalibrationPlan(ttft_ms=2, itl_ms=1)) as srv:
        res = sweep(tmp_path, srv.base_url, scenarios=[{"workload": {"kind": "trace", "path": "t.jsonl"}}])
    others = max(0.0, (_cpu_busy_s() - busy0) - (_own_cpu_s() - own0)) / (time.monotonic() - t0)
    (p,) = res.points
    recs = records(res, p)
    assert p.num_requests == 300 and p.failed == 0 and p.workload_kind == "trace"
    starts = sorted(r.scheduled_at for r in recs)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert max(abs(g - 0.010) for g in gaps) < 1e-6  # scheduled exactly at the trace's times
    assert all(r.prompt_tokens == 40 for r in recs)  # token ids: the server counts what the trace says
    assert p.schedule_lag_p99 is not None
    loop_lag_ms = p.extra["client"]["loop_lag_p99_ms"]
    seen = (f"send lag p99 {p.schedule_lag_p99 * 1e3:.3f} ms, client loop lag p99 {loop_lag_ms:.3f} ms, "
            f"other processes {others:.2f} CPUs busy, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(seen)  # the figure, also when it passes (pytest -rP)
    busy = loop_lag_ms > QUIET_LOOP_LAG_MS or others > QUIET_OTHER_CPUS
    if busy and p.schedule_lag_p99 > 0.001:
        pytest.skip(f"machine busy: {seen}; the 1 ms bound holds under light load")
    assert p.schedule_lag_p99 <= 0.001, seen


def test_goodput_is_the_share_served_within_the_slo(tmp_path: Path) -> None:
    """The server stalls 5 of the 20 measured requests by 300 ms: exactly 15/20 are good."""
    slow = [2, 5, 9, 14, 17]  # arrival indices; arrival 0 is the warmup request
    plan = CalibrationPlan(ttft_ms=5, itl_ms=1, faults={"stall": slow}, stall_s=0.3)
    with CalibrationServer(plan) as srv:
        res = sweep(tmp_path, srv.base_url, scenarios=[{"isl": 16, "osl": 8}], concurrency=[2],
                    slo={"e2el_ms": 150, "percentile": 50})
    (p,) = res.points
    assert p.num_requests == 20 and p.failed == 0
    assert p.good_fraction == pytest.approx(15 / 20)
    assert p.goodput_rps == pytest.approx(15 / p.duration)
    assert p.slo_met is True  # the median request is fast
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        (row,) = s.points()
    assert row.good_fraction == pytest.approx(0.75) and json.loads(row.slo)["e2el_ms"] == 150


def test_slo_search_lands_on_the_known_rate(tmp_path: Path) -> None:
    """Two service slots x 80 ms per request = 25 req/s of capacity. Below it (constant arrivals)
    nothing queues and E2EL is ~80 ms; above it the queue grows with every request, so the p90
    E2EL bound of 130 ms is met up to ~25 req/s (less the server's own overhead per request) and
    missed beyond."""
    plan = CalibrationPlan(ttft_ms=80, itl_ms=1, max_concurrent=2, record_truth=False)
    with CalibrationServer(plan) as srv:
        res = sweep(tmp_path, srv.base_url, scenarios=[{"isl": 16, "osl": 1}], concurrency=[], arrival="constant",
                    requests_per_point={"per_conc": 3, "min": 60}, warmup={"per_conc": 0, "min": 0},
                    slo={"e2el_ms": 130, "percentile": 90},
                    slo_search={"over": "rate", "low": 5, "high": 100, "tolerance": 0.04})
    probes = [(p.extra["slo_search"]["load"], p.slo_met) for p in res.points]
    assert probes[0] == (5, True) and probes[1] == (100, False)
    best = max(load for load, met in probes if met)
    failed_above = min(load for load, met in probes if not met)
    assert 0.85 * 25 <= best <= 1.04 * 25, probes
    assert (failed_above - best) / best < 0.04 + 1e-9, probes
    assert all(p.request_rate == p.extra["slo_search"]["load"] for p in res.points)


def test_sessions_carry_the_real_history(tmp_path: Path) -> None:
    """Every turn's prompt = the previous prompt + the reply the server generated + the new user
    text (the calibration server counts whitespace words; its reply is ' tok' x osl)."""
    with CalibrationServer(CalibrationPlan(ttft_ms=3, itl_ms=1)) as srv:
        res = sweep(tmp_path, srv.base_url, concurrency=[3], rates=[20],
                    scenarios=[{"workload": {"kind": "multi_turn", "sessions": 5, "turns": 3, "user_tokens": 30,
                                             "assistant_tokens": 4}}])
    for p in res.points:
        recs = records(res, p)
        assert p.num_requests == 15 and p.failed == 0 and set(p.extra["ttft_by_turn"]) == {"0", "1", "2"}
        by_session: dict[int, list] = {}
        for r in sorted(recs, key=lambda r: r.turn):
            by_session.setdefault(r.session_id, []).append(r)
        assert len(by_session) == 5
        for turns in by_session.values():
            assert [r.turn for r in turns] == [0, 1, 2]
            for a, b in zip(turns, turns[1:]):
                assert b.prompt_tokens - a.prompt_tokens - 4 == turns[0].prompt_tokens  # reply + a same-size turn
                assert b.scheduled_at >= a.done_at  # the next turn waits for the reply
    rate_point = res.points[1]
    assert rate_point.request_rate == 20 and rate_point.conc == 0


def test_resumed_slo_search_goes_on_from_its_stored_probes(tmp_path: Path) -> None:
    """A sweep interrupted during its SLO search (planned points all stored): --resume finishes the
    search, reusing the probes it has (it skipped the layout before, so the search stayed cut short)
    and measuring only the missing ones; with trials, each probe's trials stay apart from the
    planned point's at the same load."""
    plan = CalibrationPlan(ttft_ms=5, itl_ms=1, record_truth=False)
    rec = parse_recipe({**BASE, "scenarios": [{"isl": 16, "osl": 2}], "concurrency": [2], "trials": 2,
                        "requests_per_point": {"per_conc": 2, "min": 4}, "slo": {"e2el_ms": 5000},
                        "slo_search": {"over": "concurrency", "low": 2, "high": 4}})
    opts = SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs")
    with CalibrationServer(plan) as srv:
        full = run_recipe(rec, SweepOptions(db=opts.db, runs_dir=opts.runs_dir, endpoint=srv.base_url))
        probe_ids = [p.point_id for p in full.points if "slo_search" in p.extra]
        assert len(probe_ids) == 2 and len(full.points) == 3  # conc 2 planned, probes 2 (low) and 4 (high)
        with Store(opts.db) as s:  # as if interrupted after the first probe
            first = s.existing_points(probe_ids[:1])[probe_ids[0]]
            s.con.execute("DELETE FROM points WHERE point_id = ?", [probe_ids[1]])
            s.con.execute("DELETE FROM trials WHERE trial_of = ?", [probe_ids[1]])
            s.con.execute("UPDATE runs SET status = 'interrupted'")
        res = run_recipe(rec, SweepOptions(db=opts.db, runs_dir=opts.runs_dir, endpoint=srv.base_url, resume="latest"))
    assert res.run_id == full.run_id and res.status == "done"
    with Store(opts.db, read_only=True) as s:
        pts = {p.point_id: p for p in s.points()}
        assert set(pts) == {p.point_id for p in full.points}
        assert pts[probe_ids[0]].started_at == first.started_at  # reused, not measured again
        trials = s.trials()
    assert len(trials) == 6 and len({t.point_id for t in trials}) == 6
    assert sorted({t.trial_of for t in trials}) == sorted(pts)
