"""End to end on the real vLLM CPU engine: a small sweep, records on disk, points in the DB.

The engine is the session fixture (started once); the sweep measures it through ``--endpoint``
so that every engine test shares the one instance.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from servemark.loadgen.records_io import read_records
from servemark.engines.check import load_recipe
from servemark.store import Store
from servemark.sweep.recipe_run import SweepOptions, run_recipe

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def sweep(vllm_server, demo_recipe_path: Path, tmp_path_factory: pytest.TempPathFactory):
    recipe = load_recipe(demo_recipe_path)
    recipe.scenarios[0].isl, recipe.scenarios[0].osl = 128, 32
    recipe.concurrency = [1, 4, 8]
    recipe.requests_per_point.per_conc, recipe.requests_per_point.min = 2, 8
    recipe.warmup.per_conc, recipe.warmup.min = 1, 4  # the first point after start warms the engine up
    tmp = tmp_path_factory.mktemp("sweep")
    opts = SweepOptions(db=tmp / "s.duckdb", runs_dir=tmp / "runs", endpoint=vllm_server.base_url)
    res = run_recipe(recipe, opts)
    return res, opts


def test_points_in_db(sweep) -> None:
    res, opts = sweep
    with Store(opts.db, read_only=True) as s:
        pts = s.points("run_id = ?", [res.run_id])
        (run,) = s.query("SELECT * FROM runs WHERE run_id = ?", [res.run_id])
    assert [p.conc for p in pts] == [1, 4, 8]
    assert run["status"] == "done" and run["servemark_version"]
    for p in pts:
        assert p.failed == 0 and p.completed == p.num_requests
        assert p.engine == "vllm-cpu" and p.hardware == "cpu" and p.model == "gemma-3-270m"
        # one trial: its interval is a bootstrap over its requests, and holds the point's value
        assert p.trials == 1 and p.interval_method == "bootstrap_requests"
        lo, hi = p.intervals["tput_per_gpu"]
        assert lo <= p.tput_per_gpu <= hi and lo < hi


def _max_in_flight(recs) -> int:
    """Most measured requests open at once (sent, not yet done), from the records' own clock."""
    events = sorted([(r.sent_at, 1) for r in recs] + [(r.done_at, -1) for r in recs], key=lambda e: (e[0], e[1]))
    depth = peak = 0
    for _, step in events:
        depth += step
        peak = max(peak, depth)
    return peak


def test_each_point_holds_its_concurrency(sweep) -> None:
    """What the sweep guarantees: a point at concurrency c keeps at most c requests open and does
    run them side by side. Whether total throughput grows with c is the engine's business (on a
    2-core CPU vLLM is compute-bound, so it need not), so it is measured, not asserted."""
    res, _ = sweep
    for p in res.points:
        recs = [r for r in read_records(res.run_dir / "records" / f"{p.point_id}.parquet") if not r.warmup]
        peak = _max_in_flight(recs)
        assert peak <= p.conc, (p.conc, peak)
        assert peak >= min(p.conc, 2), (p.conc, peak)  # streams overlapped: not a serial run in disguise


def test_exact_token_counts(sweep) -> None:
    res, _ = sweep
    for p in res.points:
        recs = [r for r in read_records(res.run_dir / "records" / f"{p.point_id}.parquet") if not r.warmup]
        assert len(recs) == p.num_requests
        assert all(r.output_tokens == 32 for r in recs), [r.output_tokens for r in recs]
        assert all(r.client_prompt_tokens == 128 for r in recs)
        # the server counts what the client built (a BOS the server adds shows as a constant +1)
        assert {r.prompt_tokens - r.client_prompt_tokens for r in recs} <= {0, 1}
        assert p.total_output_tokens == 32 * p.num_requests


def test_records_on_disk(sweep) -> None:
    res, _ = sweep
    files = sorted((res.run_dir / "records").glob("*.parquet"))
    assert len(files) == 3
    cols = set(pq.read_schema(files[0]).names)
    assert {"point_id", "scheduled_at", "sent_at", "first_token_at", "done_at", "chunk_times", "chunk_tokens"} <= cols
    assert (res.run_dir / "recipe.json").is_file()
