"""The command line's consistency rules (issue 17), each through the real CLI in a subprocess.

Cheap: the one run needed is ``servemark bench`` against the calibration server (a measuring
instrument with known timings), prompts from the demo model's tokenizer files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml

from servemark.calibration.plan import CalibrationPlan
from servemark.calibration.process import CalibrationServer
from servemark.models import demo
from servemark.point import Point
from servemark.store import Store

SERVEMARK = shutil.which("servemark", path=str(Path(sys.executable).parent)) or shutil.which("servemark")
EXPONENT = re.compile(r"(?<![\w.-])\d+(\.\d+)?[eE][+-]?\d+(?![\w-])")  # 1.2e-05, not run ids like ...-40e9
VLLM_BENCH = Path(__file__).parent / "data" / "vllm_bench" / "vllm_bench_calibration_c4.json"


def sm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "servemark", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def bench_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one `servemark bench` run against the calibration server (3 points)."""
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")
    tmp = tmp_path_factory.mktemp("rules")
    with CalibrationServer(CalibrationPlan(ttft_ms=5, itl_ms=1)) as srv:
        p = sm("bench", srv.base_url, "--tokenizer", str(demo.model_dir("gemma-3-270m")), "--isl", "16", "--osl", "4",
               "--concurrency", "1,2", "--rate", "20", "--num-prompts", "4", "--num-warmups", "1",
               "--db", str(tmp / "s.duckdb"), "--runs-dir", str(tmp / "runs"), "--save-recipe", str(tmp / "r.yaml"))
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp / "s.duckdb"


def _commands() -> dict[str, object]:
    from servemark.cli import app

    found: dict[str, object] = {}

    def walk(cmd: object, path: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, path + [name]) if hasattr(sub, "commands") else found.__setitem__(" ".join(path + [name]), sub)

    walk(typer.main.get_command(app), [])
    return found


# Commands that print a table of results (people read it; programs need --json).
TABLE_COMMANDS = {"run", "bench", "demo", "report", "calibrate", "frontier", "cost", "compare", "history", "plan",
                  "engine list", "import inferencex", "import vllm-bench", "sol hardware", "sol model",
                  "sol breakdown", "sol frontier", "sol check", "eval gsm8k", "eval agreement", "eval show",
                  "runs list", "runs show"}


def test_json_is_a_flag_everywhere_and_every_table_command_has_it():
    cmds = _commands()
    assert TABLE_COMMANDS <= set(cmds), TABLE_COMMANDS - set(cmds)
    for name, cmd in cmds.items():
        for p in cmd.params:
            if "--json" in getattr(p, "opts", []):
                assert p.is_flag, f"{name}: --json takes a value; files go through --out"
    missing = [n for n in TABLE_COMMANDS if not any("--json" in getattr(p, "opts", []) for p in cmds[n].params)]
    assert not missing, f"table commands without --json: {missing}"
    p = sm("engine", "list", "--json")
    assert p.returncode == 0 and "vllm" in json.loads(p.stdout)["adapters"]


def test_json_with_csv_is_a_usage_error(bench_db):
    for cmd in (["frontier"], ["runs", "list"]):
        p = sm(*cmd, "--json", "--csv", "--db", str(bench_db))
        assert p.returncode == 2 and "exclusive" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr


def test_shell_completion_is_on():
    if SERVEMARK is None:
        pytest.skip("the servemark console script is not installed")
    env = {**os.environ, "_SERVEMARK_COMPLETE": "complete_bash", "COMP_WORDS": "servemark ru", "COMP_CWORD": "1"}
    p = subprocess.run([SERVEMARK], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["run", "runs"]
    assert "--install-completion" in sm("--help").stdout


def test_exit_codes_0_ok_1_check_failed_2_usage_or_input(tmp_path):
    assert sm("engine", "list").returncode == 0
    assert sm("frontier", "--no-such-option").returncode == 2  # usage
    assert sm("plan", str(tmp_path / "missing.yaml")).returncode == 2  # input
    db = tmp_path / "h.duckdb"
    pts = []
    for i, (day, scale) in enumerate([("2026-01-01", 1), ("2026-01-02", 1), ("2026-01-03", 1), ("2026-01-04", 0.5)]):
        for c, iv, tp in [(1, 100.0, 100.0), (8, 20.0, 500.0)]:
            pts.append(Point(run_id=f"r{i}", point_id=f"p{i}-{c}", date=day, model="m", engine="e", hardware="h",
                             precision="bf16", isl=8, osl=8, conc=c, median_intvty=iv, tput_per_gpu=tp * scale,
                             completed=10, num_requests=10, scenario="8/8"))
    with Store(db) as store:
        store.add_points(pts)
    assert sm("history", "--at", "50", "--db", str(db)).returncode == 0  # listing is not a check
    p = sm("history", "--at", "50", "--check", "--db", str(db))
    assert p.returncode == 1, p.stderr  # a regression: the check failed
    assert sm("history", "--at", "50", "--check", "--db", str(db), "--model", "none").returncode in (0, 2)


def test_all_recipe_errors_shown_at_once(tmp_path):
    bad = {"name": "bad", "model": {"name": "m", "pth": "x"}, "engine": {"name": "vllm", "port": 0},
           "scenarios": [{"isl": 0, "osl": 8}], "concurrency": [1], "colour": "red"}
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(bad))
    p = sm("plan", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    for key in ("model.pth: unknown key", "engine.port", "scenarios.0.isl", "colour: unknown key"):
        assert f"{f}: {key}" in p.stderr, p.stderr
    assert "more)" not in p.stderr


@pytest.mark.parametrize("args, listed", [
    (["sol", "frontier", "llama-3.1-8b", "h100", "--precision", "fp9"], "fp4, fp8, int8, bf16"),
    (["sol", "frontier", "llama-3.1-8b", "h1000"], "h100-sxm"),
    (["sol", "breakdown", "no-such-model", "h100"], "llama-3.1-8b"),
])
def test_unknown_precision_hardware_model_rejected_with_the_valid_list(args, listed):
    p = sm(*args)
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", p.stderr).split())  # rich's usage-error box wraps lines
    assert p.returncode == 2 and listed in text and "Traceback" not in p.stderr, p.stderr


def test_numbers_in_tables_never_in_exponent_form(bench_db):
    from servemark.numfmt import fixed, plain

    assert fixed(1.234e-5) == "0.00001234" and plain(123456789.0, ".3g") == "123456789"
    assert EXPONENT.search("| 1.2e-05 |") and EXPONENT.search("3E+04") and not EXPONENT.search("bench-calibration-40e9")
    for args in (["report", "--db", str(bench_db), "--html", str(bench_db.parent / "r.html")], ["runs", "list", "--db", str(bench_db)],
                 ["frontier", "--db", str(bench_db)], ["sol", "breakdown", "gemma-3-270m", "cpu-ci", "--precision", "bf16"],
                 ["sol", "model", "deepseek-r1"]):
        p = sm(*args, env={"COLUMNS": "250"})
        assert p.returncode == 0, (args, p.stderr)
        assert not EXPONENT.search(p.stdout), (args, EXPONENT.findall(p.stdout))


def test_report_without_arguments_skips_a_failed_run_with_no_points(bench_db):
    with Store(bench_db) as store:
        store.upsert_run({"run_id": "zz-failed", "name": "failed", "kind": "sweep", "status": "failed",
                          "started_at": "2999-01-01T00:00:00+00:00"})
    p = sm("report", "--db", str(bench_db), "--json", "--html", str(bench_db.parent / "r.html"))
    assert p.returncode == 0, p.stderr
    assert {pt["run_id"] for pt in json.loads(p.stdout)} != {"zz-failed"} and json.loads(p.stdout)


def test_a_run_is_recorded_only_once_its_endpoint_answered(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    db = tmp_path / "s.duckdb"
    p = sm("bench", dead, "--model", "m", "--tokenizer", "server", "--db", str(db), "--runs-dir", str(tmp_path / "runs"))
    assert p.returncode == 2 and "unreachable" in p.stderr and "Traceback" not in p.stderr
    assert not db.exists() or not Store(db, read_only=True).runs()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_import_replace_corrects_labels(tmp_path):
    db = str(tmp_path / "s.duckdb")
    assert sm("import", "vllm-bench", str(VLLM_BENCH), "--hardware", "h100", "--db", db).returncode == 0
    assert sm("import", "vllm-bench", str(VLLM_BENCH), "--hardware", "h200", "--db", db).returncode == 0
    with Store(db, read_only=True) as store:
        assert {p.hardware for p in store.points()} == {"h100"}  # stored values win by default
    p = sm("import", "vllm-bench", str(VLLM_BENCH), "--hardware", "h200", "--replace", "--db", db, "--json")
    assert p.returncode == 0, p.stderr
    with Store(db, read_only=True) as store:
        pts = store.points()
    assert len(pts) == 1 and pts[0].hardware == "h200"


def test_messages_name_options_that_exist():
    """Options that error messages and docs tell users to pass exist on the command they name."""
    src = Path(__file__).parents[1] / "src" / "servemark"
    mentioned = set()
    for f in src.rglob("*.py"):
        for m in re.finditer(r"`servemark ([a-z][a-z -]*?) (--[a-z][a-z-]+)", f.read_text()):
            mentioned.add((m.group(1).strip(), m.group(2)))
    mentioned.add(("engine install", "--sdist"))  # llama_cpp: "offline, pass --sdist PATH"
    cmds = _commands()
    for name, opt in mentioned:
        words = name.split()
        while words and " ".join(words) not in cmds:
            words.pop()
        assert words, f"a message names `servemark {name}`, which does not exist"
        opts = {o for p in cmds[" ".join(words)].params for o in getattr(p, "opts", [])}
        assert opt in opts, f"a message names `servemark {' '.join(words)} {opt}`, which has no such option"


def test_runs_list_show_rm_and_export_points(bench_db, tmp_path):
    runs = json.loads(sm("runs", "list", "--db", str(bench_db), "--json").stdout)
    bench_run = next(r for r in runs if r["kind"] == "external")
    assert bench_run["points"] == 3 and bench_run["status"] == "done"
    shown = json.loads(sm("runs", "show", bench_run["run_id"], "--db", str(bench_db), "--json").stdout)
    assert len(shown["points"]) == 3 and shown["run"]["kind"] == "external"
    import pyarrow.parquet as pq

    for fmt in ("parquet", "csv", "json"):
        out = tmp_path / f"points.{fmt}"
        p = sm("export", "points", "--format", fmt, "--out", str(out), "--run", bench_run["run_id"], "--db", str(bench_db))
        assert p.returncode == 0, p.stderr
    assert pq.read_table(tmp_path / "points.parquet").num_rows == 3
    assert len(json.loads((tmp_path / "points.json").read_text())) == 3
    assert len((tmp_path / "points.csv").read_text().strip().splitlines()) == 4
    assert sm("runs", "rm", "no-such-run", "--yes", "--db", str(bench_db)).returncode == 2


def test_export_bundle_and_import_bundle_through_the_cli(bench_db, tmp_path):
    """`export` is a group: `export bundle RUN --out FILE` (the Slurm bundles) beside `export points`."""
    run_id = next(r["run_id"] for r in json.loads(sm("runs", "list", "--db", str(bench_db), "--json").stdout)
                  if r["kind"] == "external")
    bundle = tmp_path / "run.tar.gz"
    p = sm("export", "bundle", run_id, "--out", str(bundle), "--db", str(bench_db))
    assert p.returncode == 0 and bundle.is_file(), p.stderr
    other = tmp_path / "other.duckdb"
    p = sm("import", "bundle", str(bundle), "--db", str(other), "--runs-dir", str(tmp_path / "runs"))
    assert p.returncode == 0, p.stderr
    with Store(other, read_only=True) as store:
        assert len(store.points("run_id = ?", [run_id])) == 3
    assert sm("export", run_id, "--out", str(bundle)).returncode == 2  # the old top-level form is gone


def test_bench_save_recipe_repeats_through_run_endpoint(bench_db, tmp_path):
    """`bench --save-recipe` writes the recipe that was run; `run FILE --endpoint URL` repeats it."""
    from servemark.engines.check import load_recipe

    saved = bench_db.parent / "r.yaml"
    recipe = load_recipe(saved)
    assert (recipe.concurrency, recipe.rates, recipe.requests_per_point.min) == ([1, 2], [20.0], 4)
    assert (recipe.scenarios[0].isl, recipe.scenarios[0].osl) == (16, 4)
    with CalibrationServer(CalibrationPlan(ttft_ms=5, itl_ms=1)) as srv:
        p = sm("run", str(saved), "--endpoint", srv.base_url, "--db", str(tmp_path / "s.duckdb"),
               "--runs-dir", str(tmp_path / "runs"), "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    points = json.loads(p.stdout)
    assert [(pt["conc"], pt["request_rate"]) for pt in points] == [(1, None), (2, None), (0, 20.0)]
    assert all(pt["completed"] == 4 for pt in points)
