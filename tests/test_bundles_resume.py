"""Run bundles between two real stores, resume with stable point ids, and the Slurm batch script.

Sweeps here run against the calibration server started by the sweep runner itself (the
``calibration`` engine on a local process): fast, and the runner, store and Parquet files are
the real ones. No cluster is needed.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port
from servemark.bundles import BundleError, export_run, import_bundles
from servemark.errors import ServemarkError
from servemark.sweep.slurm_job import batch_script, write_job
from servemark.models import demo
from servemark.engines.check import parse_recipe
from servemark.recipe.expand import expand
from servemark.recipe.schema import SlurmSpec
from servemark.store import Store
from servemark.sweep import recipe_run as runner
from servemark.sweep.identity import identity, planned_ids, point_key
from servemark.sweep.recipe_run import SweepOptions, run_recipe


def body(**over: Any) -> dict[str, Any]:
    return {
        "name": "bundle",
        "model": {"name": "gemma-3-270m", "path": "auto"},
        "engine": {"name": "calibration", "port": free_port(), "args": {"ttft_ms": 10, "itl_ms": 2}},
        "scenarios": [{"isl": 32, "osl": 8}],
        "concurrency": [1, 2, 4],
        "requests_per_point": {"per_conc": 2, "min": 4},
        "warmup": {"per_conc": 0, "min": 1},
        **over,
    }


@pytest.fixture
def tokenizer() -> None:
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")


def opts(tmp_path: Path, name: str = "a", **kw: Any) -> SweepOptions:
    return SweepOptions(db=tmp_path / f"{name}.duckdb", runs_dir=tmp_path / f"runs-{name}", **kw)


# identity ------------------------------------------------------------------------------------

def test_point_ids_are_stable_and_follow_every_identity_field() -> None:
    b = body(concurrency=[1, 2], layouts=[{}, {"max_num_seqs": 4}])
    r, again = parse_recipe(b), parse_recipe(json.loads(json.dumps(b)))
    pts = expand(r)
    ids = planned_ids(r, pts, "run1")
    assert ids == planned_ids(again, expand(again), "run1")  # same recipe content -> same ids
    assert len(set(ids.values())) == 4  # layout and concurrency each change the id
    assert planned_ids(r, pts, "run2")[0] != ids[0]  # another run is another set of measurements
    assert point_key(r, pts[0], trial=1) != point_key(r, pts[0], trial=0)
    changed = parse_recipe({**b, "seed": 7})
    assert planned_ids(changed, expand(changed), "run1")[0] != ids[0]  # recipe content is part of it


def test_point_ids_keep_workloads_rates_and_search_probes_apart() -> None:
    """Resume and frontiers key on the id: two workloads, the same workload with prefix caching on
    and off, a rate and a concurrency, or a search probe at a planned load never share one."""
    b = body(concurrency=[1], rates=[1], scenarios=[
        {"isl": 64, "osl": 8}, {"isl": 64, "osl": 8, "prefix_cache": "on"},
        {"osl": 8, "workload": {"kind": "multi_turn", "sessions": 2, "turns": 2}},
        {"osl": 8, "workload": {"kind": "multi_turn", "sessions": 2, "turns": 3}}])
    r = parse_recipe(b)
    pts = expand(r)
    ids = planned_ids(r, pts, "run1")
    assert len(pts) == 8 and len(set(ids.values())) == 8
    ident = identity(r, pts[0])
    assert ident["workload"] == {"key": "random", "prefix_cache": False} and ident["load"] == {"conc": 1, "rate": None}
    rate_pt = next(p for p in pts if p.rate is not None)
    assert identity(r, rate_pt)["load"] == {"conc": 0, "rate": 1.0}
    assert point_key(r, pts[0], probe=1) not in {point_key(r, pts[0]), point_key(r, pts[0], probe=2)}


# resume --------------------------------------------------------------------------------------

def test_resume_after_a_crash_measures_only_the_missing_points(tmp_path: Path, tokenizer: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    r = parse_recipe(body())
    real, calls = runner._make_point, {"n": 0}

    def crash_on_third(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(runner, "_make_point", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(r, opts(tmp_path))
    monkeypatch.setattr(runner, "_make_point", real)
    with Store(tmp_path / "a.duckdb", read_only=True) as s:
        (row,) = s.runs()
        assert row["status"] == "interrupted" and len(s.points()) == 2
    res = run_recipe(r, opts(tmp_path, resume="latest"))
    assert res.run_id == row["run_id"]
    with Store(tmp_path / "a.duckdb", read_only=True) as s:
        pts = s.points()
        (row,) = s.runs()
    ids = [p.point_id for p in pts]
    assert len(ids) == len(set(ids)) == 3 and set(ids) == set(planned_ids(r, expand(r), row["run_id"]).values())
    assert row["status"] == "done" and len(res.points) == 3
    # resuming a finished run measures nothing and changes nothing
    again = run_recipe(r, opts(tmp_path, resume=row["run_id"]))
    assert [p.point_id for p in again.points] == [p.point_id for p in res.points]


def test_resume_refuses_a_changed_recipe_and_an_unknown_run(tmp_path: Path, tokenizer: None) -> None:
    res = run_recipe(parse_recipe(body(concurrency=[1])), opts(tmp_path))
    with pytest.raises(ServemarkError, match="another recipe"):
        run_recipe(parse_recipe(body(concurrency=[1, 2])), opts(tmp_path, resume=res.run_id))
    with pytest.raises(ServemarkError, match="no run 'nope'"):
        run_recipe(parse_recipe(body(concurrency=[1])), opts(tmp_path, resume="nope"))


# bundles -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One measured run, exported once; each test imports it into stores of its own."""
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")
    src = tmp_path_factory.mktemp("measured")
    res = run_recipe(parse_recipe(body()), opts(src))
    bundle = src / "run.tar.gz"
    export_run(src / "a.duckdb", res.run_id, bundle)
    return bundle, res.run_id


def _rows(db: Path) -> list[dict[str, Any]]:
    with Store(db, read_only=True) as s:
        return s.query("SELECT * FROM points ORDER BY point_id")


def test_bundle_round_trip_gives_identical_points_and_files(tmp_path: Path, measured: tuple[Path, str]) -> None:
    bundle, run_id = measured
    res = import_bundles([bundle], tmp_path / "b.duckdb", tmp_path / "runs-b")
    assert res.points == res.added == 3 and res.runs == [run_id]
    assert _rows(bundle.parent / "a.duckdb") == _rows(tmp_path / "b.duckdb")
    with Store(tmp_path / "b.duckdb", read_only=True) as s:
        (run,) = s.runs()
    assert run["status"] == "done" and run["run_dir"] == str(tmp_path / "runs-b" / run_id)
    src, dst = bundle.parent / "runs-a" / run_id, tmp_path / "runs-b" / run_id
    for rel in ["recipe.json", "plan.json", "engine-L0-server.log", *(f"records/{f.name}" for f in (src / "records").iterdir())]:
        assert (dst / rel).read_bytes() == (src / rel).read_bytes(), rel
    again = import_bundles([bundle, bundle], tmp_path / "b.duckdb", tmp_path / "runs-b")
    assert again.added == 0 and len(_rows(tmp_path / "b.duckdb")) == 3  # idempotent


def _rewrite(bundle: Path, out: Path, edit: Any) -> None:
    """Copy a bundle member by member, letting ``edit(name, data)`` change (or drop: None) each."""
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for m in src:
            data = edit(m.name, src.extractfile(m).read())
            if data is None:
                continue
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_tampered_bundle_is_refused_and_nothing_is_written(tmp_path: Path, measured: tuple[Path, str]) -> None:
    bundle, _ = measured
    bad = tmp_path / "tampered.tar.gz"
    _rewrite(bundle, bad, lambda n, d: d.replace(b'"status": "done"', b'"status": "DONE"') if n == "run.json" else d)
    with pytest.raises(BundleError, match=r"tampered\.tar\.gz: run\.json does not match its checksum"):
        import_bundles([bundle, bad], tmp_path / "c.duckdb", tmp_path / "runs-c")
    assert not (tmp_path / "c.duckdb").exists()  # all bundles are checked before the store is opened

    dropped = tmp_path / "dropped.tar.gz"
    _rewrite(bundle, dropped, lambda n, d: None if n.startswith("records/") else d)
    with pytest.raises(BundleError, match="listed in the manifest but missing"):
        import_bundles([dropped], tmp_path / "c.duckdb", tmp_path / "runs-c")

    extra = tmp_path / "extra.tar.gz"
    _rewrite(bundle, extra, lambda n, d: d)
    with tarfile.open(extra, "r:gz") as t:
        members = {m.name: t.extractfile(m).read() for m in t}
    members["logs/evil.log"] = b"x"
    with tarfile.open(extra, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match="logs/evil.log is not in the manifest"):
        import_bundles([extra], tmp_path / "c.duckdb", tmp_path / "runs-c")


def test_truncated_or_foreign_file_is_refused(tmp_path: Path, measured: tuple[Path, str]) -> None:
    bundle, _ = measured
    data = bundle.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(BundleError, match="cut.tar.gz: not a complete bundle"):
        import_bundles([cut], tmp_path / "c.duckdb", tmp_path / "runs-c")
    foreign = tmp_path / "foreign.tar.gz"
    foreign.write_bytes(gzip.compress(b"not a tar at all" * 100))
    with pytest.raises(BundleError, match="foreign.tar.gz"):
        import_bundles([foreign], tmp_path / "c.duckdb", tmp_path / "runs-c")


def test_import_bundle_cli_refuses_a_bad_bundle_without_a_traceback(tmp_path: Path, measured: tuple[Path, str]) -> None:
    import subprocess
    import sys

    bundle, _ = measured
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(bundle.read_bytes()[:200])
    done = subprocess.run([sys.executable, "-m", "servemark", "import", "bundle", str(cut), "--db", str(tmp_path / "d.duckdb")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "not a complete bundle" in done.stderr and "Traceback" not in done.stderr
    ok = subprocess.run([sys.executable, "-m", "servemark", "import", "bundle", str(bundle), "--db", str(tmp_path / "d.duckdb"),
                         "--runs-dir", str(tmp_path / "runs-d")], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "3 new" in ok.stdout, ok.stderr


# the batch script ------------------------------------------------------------------------------

def test_batch_script_carries_checked_values_and_one_quoted_command(tmp_path: Path) -> None:
    spec = SlurmSpec(partition="gpu", account="lab-1", qos="high", time="1-00:00:00", gpus_per_node=8,
                     sbatch_args=["--exclusive", "--constraint=h200"], array_limit=3,
                     servemark=["/opt/sm env/bin/python", "-m", "servemark"])
    text = batch_script(spec, "r1", 2, tmp_path / "job", 5, array=True)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for opt in ("--nodes=2", "--partition=gpu", "--account=lab-1", "--qos=high", "--time=1-00:00:00",
                "--gpus-per-node=8", "--array=0-4%3", "--exclusive", "--constraint=h200", "--requeue"):
        assert f"#SBATCH {opt}" in lines
    assert lines[-1] == f"exec '/opt/sm env/bin/python' -m servemark job-task {tmp_path / 'job'} \"${{SLURM_ARRAY_TASK_ID:-0}}\""


@pytest.mark.parametrize("bad", [
    {"partition": "gpu\n#SBATCH --uid=0"}, {"account": "a b"}, {"time": "1h; rm -rf /"},
    {"sbatch_args": ["--comment=$(id)"]}, {"sbatch_args": ["--x y"]},
])
def test_slurm_values_that_could_inject_are_refused_naming_the_key(bad: dict[str, Any]) -> None:
    key = next(iter(bad))
    with pytest.raises(ServemarkError, match=rf"executor\.slurm\.{key}"):
        parse_recipe(body(executor={"kind": "slurm", "slurm": bad}))


def test_array_job_has_a_task_per_recipe_layout_each_with_its_own_store(tmp_path: Path) -> None:
    r1 = parse_recipe(body(name="one", executor={"kind": "slurm"}, layouts=[{}, {"max_num_seqs": 2}]))
    r2 = parse_recipe(body(name="two", executor={"kind": "slurm"}))
    job = write_job([r1, r2], tmp_path / "runs", ["run-one", "run-two"], array=True)
    assert [(t.run_id, t.layouts) for t in job.tasks] == [("run-one", [0]), ("run-one", [1]), ("run-two", [0])]
    assert len({t.db for t in job.tasks}) == 3
    assert "#SBATCH --array=0-2%8" in job.script.read_text()
    assert json.loads((job.dir / "tasks.json").read_text())[1]["layouts"] == [1]
