"""Run sweeps as Slurm jobs: write the batch script, submit, follow, cancel, collect the points.

The job does not get a new kind of runner: its batch script starts servemark's ordinary sweep
runner (``servemark job-task JOBDIR INDEX``) on the allocation's first node, which places each
engine process on its node with ``srun`` (:mod:`servemark.executors.placement`). Multi-node
layouts use node lists inside one allocation, not heterogeneous jobs: one ``--nodes=N`` request
is simpler to ask for and to requeue, and the engine adapters already say which node each
role (prefill workers, decode workers, router) goes to.

Each task of a job measures one recipe (or one layout of it, in an array) into its own small
store next to the run folder, ``RUNS/<run>/slurm[-L<i>].duckdb``, and then exports it as a
bundle beside it. Its run id is fixed at submission, so a requeued or resumed task finds its own
store and measures only the missing points. The submitting process follows the job
(``squeue``; ``sacct`` when accounting is on, else ``scontrol``), streams the tasks' output,
cancels the job on Ctrl-C (``scancel``) and finally imports every task's bundle, or exports
one itself from the task's store when the task was cut short, so no measured point is lost.
The run folder must be on storage the nodes and the submitting host share.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console

from servemark.errors import ServemarkError
from servemark.recipe.expand import expand, recipe_hash
from servemark.recipe.schema import Layout, Recipe, SlurmSpec

TERMINAL_OK = {"COMPLETED"}
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+@%:=,-]+")


@dataclass
class Task:
    """One unit of work in a job: a recipe (some of its layouts) measured into one run."""

    recipe: str
    run_id: str
    layouts: list[int] | None
    db: str
    bundle: str
    runs_dir: str
    recipe_dir: str = ""
    """Folder of the original recipe file: its relative dataset and trace paths are taken from it
    (the job reads a copy of the recipe in the job folder)."""


@dataclass
class JobFiles:
    dir: Path
    script: Path
    tasks: list[Task]
    recipes: list[Recipe] = field(default_factory=list)
    job_id: str = ""


def nodes_needed(recipe: Recipe, layout: Layout) -> int:
    """Nodes one layout occupies: from the adapter's placement of its roles, or tp x pp over GPUs per node."""
    if recipe.executor.slurm and recipe.executor.slurm.nodes:
        return recipe.executor.slurm.nodes
    if layout.disaggregated:
        from servemark.engines.disagg import place

        return max(s.node for s in place(recipe, layout)) + 1
    if recipe.hardware.name == "cpu":
        return 1
    return -(-layout.gpus // recipe.hardware.gpus_per_node)


def _plain(name: str) -> str:
    """A recipe name as a job name or folder name (letters, digits, ``_.-``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def _servemark_argv(spec: SlurmSpec) -> list[str]:
    return list(spec.servemark) if spec.servemark else [sys.executable, "-m", "servemark"]


def batch_script(spec: SlurmSpec, name: str, nodes: int, job_dir: Path, n_tasks: int, array: bool) -> str:
    """The sbatch script: ``#SBATCH`` lines from checked values, then one quoted command line."""
    if not _PLAIN_PATH.fullmatch(str(job_dir)):
        raise ServemarkError(f"the job folder {job_dir} has characters Slurm's #SBATCH lines cannot carry; "
                             "use a --runs-dir without spaces")
    out = "slurm-%A_%a.out" if array else "slurm-%j.out"
    opts = [f"--job-name=servemark-{_plain(name)}", f"--nodes={nodes}",
            "--ntasks-per-node=1", f"--time={spec.time}", "--requeue", "--open-mode=append",
            f"--output={job_dir}/{out}"]
    for key in ("partition", "account", "qos", "gpus_per_node", "cpus_per_task"):
        value = getattr(spec, key)
        if value is not None:
            opts.append(f"--{key.replace('_', '-')}={value}")
    if array:
        opts.append(f"--array=0-{n_tasks - 1}%{spec.array_limit}")
    opts += spec.sbatch_args
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in opts),
             "# written by servemark: the sweep runner measures this task's points; see docs/cluster.md",
             "set -u", "export SERVEMARK_IN_SLURM_JOB=1",
             "exec " + shlex.join([*_servemark_argv(spec), "job-task", str(job_dir)]) + ' "${SLURM_ARRAY_TASK_ID:-0}"']
    return "\n".join(lines) + "\n"


def job_plan(recipe: Recipe) -> dict[str, Any]:
    """What ``servemark plan`` shows for a Slurm recipe: nodes per job and the batch script."""
    nodes = max(nodes_needed(recipe, lay) for lay in recipe.layouts)
    spec = recipe.executor.slurm or SlurmSpec()
    return {"nodes": nodes, "batch_script": batch_script(spec, recipe.name, nodes, Path("RUNS/slurm/JOB"), 1, False)}


def _stamp() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def write_job(recipes: list[Recipe], runs_dir: Path, run_ids: list[str], array: bool,
              recipe_dirs: list[Path | None] | None = None) -> JobFiles:
    """Job folder with the recipes, the task list and the batch script (nothing is submitted).
    ``recipe_dirs``: each recipe file's folder, where its relative workload paths point."""
    runs_dir = runs_dir.resolve()  # the job runs elsewhere: no path relative to this shell
    job_dir = runs_dir / "slurm" / f"{_stamp()}-{_plain(recipes[0].name)}"
    job_dir.mkdir(parents=True, exist_ok=True)
    tasks: list[Task] = []
    nodes = 1
    dirs = recipe_dirs or [None] * len(recipes)
    for k, (recipe, rid, rdir) in enumerate(zip(recipes, run_ids, dirs)):
        rfile = job_dir / f"recipe-{k}.json"
        rfile.write_text(json.dumps(recipe.model_dump(mode="json"), indent=1))
        run_dir = runs_dir / rid
        units: list[list[int] | None] = [[li] for li in range(len(recipe.layouts))] if array else [None]
        for unit in units:
            tag = f"-L{unit[0]}" if unit else ""
            tasks.append(Task(str(rfile), rid, unit, str(run_dir / f"slurm{tag}.duckdb"),
                              str(run_dir / f"bundle{tag}.tar.gz"), str(runs_dir),
                              str(Path(rdir).resolve()) if rdir else ""))
        nodes = max([nodes, *(nodes_needed(recipe, lay) for lay in recipe.layouts)])
    (job_dir / "tasks.json").write_text(json.dumps([asdict(t) for t in tasks], indent=1))
    spec = recipes[0].executor.slurm or SlurmSpec()
    script = job_dir / "job.sbatch"
    script.write_text(batch_script(spec, recipes[0].name if len(recipes) == 1 else f"{len(recipes)}-recipes",
                                   nodes, job_dir, len(tasks), array))
    return JobFiles(job_dir, script, tasks, recipes)


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ServemarkError(f"`{argv[0]}` not found: executor.kind slurm needs the Slurm client commands on PATH") from None


def submit(job: JobFiles) -> str:
    done = _run(["sbatch", "--parsable", str(job.script)])
    if done.returncode != 0:
        raise ServemarkError(f"sbatch refused {job.script}: {done.stderr.strip()}")
    job.job_id = done.stdout.strip().split(";")[0]
    (job.dir / "job_id").write_text(job.job_id + "\n")
    return job.job_id


def queued(job_id: str, tries: int = 10) -> dict[str, str]:
    """Tasks of the job still known to the queue -> state (empty once all have left it).

    ``squeue`` also fails when the controller is briefly unreachable; that is retried, not
    taken for the end of the job (only "Invalid job id" means the queue has forgotten it).
    """
    for attempt in range(tries):
        done = _run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"])
        if done.returncode == 0:
            return dict(line.split(None, 1) for line in done.stdout.splitlines() if line.strip())
        if "Invalid job id" in done.stderr:
            return {}
        time.sleep(min(2 ** attempt, 30))
    raise ServemarkError(f"squeue keeps failing for job {job_id}: {done.stderr.strip()}; the job is not cancelled")


def final_states(job_id: str) -> dict[str, str]:
    """Each task's final state: ``sacct`` where accounting is on, else ``scontrol`` (recent jobs)."""
    acct = _run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "JobID,State"])
    if acct.returncode == 0 and acct.stdout.strip():
        return {a: s.split()[0] for a, s in (ln.split("|", 1) for ln in acct.stdout.splitlines() if "|" in ln)}
    show = _run(["scontrol", "-o", "show", "job", job_id])
    out: dict[str, str] = {}
    for line in show.stdout.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        task = f"{f.get('ArrayJobId')}_{f.get('ArrayTaskId')}" if f.get("ArrayTaskId") else f.get("JobId", job_id)
        out[task] = f.get("JobState", "UNKNOWN")
    return out


def cancel(job_id: str, console: Console, wait_s: float = 90) -> None:
    """``scancel`` the job and wait until it has left the queue (its processes are gone)."""
    _run(["scancel", job_id])
    t0 = time.monotonic()
    while queued(job_id) and time.monotonic() - t0 < wait_s:
        time.sleep(0.5)
    console.print(f"[yellow]cancelled Slurm job {job_id}[/]")


class LogTail:
    """Streams new lines of the job's output files (``slurm-*.out``) to the console."""

    def __init__(self, job_dir: Path, console: Console):
        self.job_dir, self.console, self.offsets = job_dir, console, {}

    def poll(self) -> None:
        for f in sorted(self.job_dir.glob("slurm-*.out")):
            pos = self.offsets.get(f, 0)
            with open(f, "rb") as fh:
                fh.seek(pos)
                data = fh.read()
            cut = data.rfind(b"\n") + 1
            self.offsets[f] = pos + cut
            tag = f.stem.removeprefix("slurm-")
            for line in data[:cut].decode(errors="replace").splitlines():
                if line.strip():
                    self.console.out(f"{tag} | {line}", highlight=False)


def follow(job: JobFiles, console: Console, poll_s: float = 1.0) -> dict[str, str]:
    """Wait for the job, streaming its output; Ctrl-C cancels it. Returns each task's final state."""
    tail, last = LogTail(job.dir, console), ""
    try:
        while True:
            states = queued(job.job_id)
            tail.poll()
            summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(_count(states).items()))
            if summary and summary != last:
                console.print(f"job {job.job_id}: {summary}")
                last = summary
            if not states:
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        cancel(job.job_id, console)
        tail.poll()
        raise
    tail.poll()
    return final_states(job.job_id)


def _count(states: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in states.values():
        out[s] = out.get(s, 0) + 1
    return out


def collect(job: JobFiles, db: Path, runs_dir: Path, console: Console) -> int:
    """Import each task's bundle into ``db``; a task cut short gets its bundle exported here first."""
    from servemark.bundles import export_run, import_bundles
    from servemark.store import Store

    bundles: list[Path] = []
    for t in job.tasks:
        bundle, tdb = Path(t.bundle), Path(t.db)
        stale = tdb.exists() and (not bundle.exists() or bundle.stat().st_mtime < tdb.stat().st_mtime)
        if stale:
            with Store(tdb, read_only=True) as s:
                has_run = bool(s.query("SELECT 1 FROM runs WHERE run_id = ?", [t.run_id]))
            if has_run:
                export_run(tdb, t.run_id, bundle)
        if bundle.exists():
            bundles.append(bundle)
    if not bundles:
        return 0
    res = import_bundles(bundles, db, runs_dir)
    console.print(f"imported {res.points} point(s) from {res.bundles} bundle(s) into {db}")
    return res.points


def _mark_runs(job: JobFiles, db: Path, status_if_short: str) -> dict[str, list[Any]]:
    """Set each run's status in the head store from what it holds against what was planned."""
    from servemark.store import Store
    from servemark.sweep.identity import planned_ids

    by_run: dict[str, list[Any]] = {}
    with Store(db) as store:
        for recipe, rid in zip(job.recipes, dict.fromkeys(t.run_id for t in job.tasks)):
            want = set(planned_ids(recipe, expand(recipe), rid).values())
            points = [p for p in store.points("run_id = ?", [rid]) if p.point_id in want]
            rows = store.query("SELECT * FROM runs WHERE run_id = ?", [rid])
            row = rows[0] if rows else {"run_id": rid, "name": recipe.name, "kind": "sweep"}
            row["status"] = "done" if len(points) == len(want) else status_if_short
            row["note"] = f"slurm job {job.job_id}"
            store.upsert_run(row)
            by_run[rid] = points
    return by_run


def _queue_runs(job: JobFiles, db: Path) -> None:
    from servemark.store import Store
    from servemark.sweep.provenance import host_info

    with Store(db) as store:
        for recipe, rid in zip(job.recipes, dict.fromkeys(t.run_id for t in job.tasks)):
            if store.query("SELECT 1 FROM runs WHERE run_id = ?", [rid]):
                continue
            store.upsert_run({"run_id": rid, "name": recipe.name, "kind": "sweep", "status": "queued",
                              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "run_dir": str(Path(job.tasks[0].runs_dir) / rid), "recipe_hash": recipe_hash(recipe),
                              "recipe": json.dumps(recipe.model_dump(mode="json")), "engine": recipe.engine.name,
                              "note": f"slurm job {job.job_id}", **host_info()})


def run_job(job: JobFiles, db: Path, runs_dir: Path, console: Console, detach: bool = False) -> dict[str, list[Any]]:
    """Submit, follow, collect; on Ctrl-C cancel and still collect what was measured."""
    job_id = submit(job)
    n = len(job.tasks)
    console.print(f"submitted Slurm job [bold]{job_id}[/] ({n} task{'s' * (n > 1)}) -> {job.dir}")
    _queue_runs(job, db)
    if detach:
        return {}
    try:
        states = follow(job, console)
    except KeyboardInterrupt:
        collect(job, db, runs_dir, console)
        _mark_runs(job, db, "interrupted")
        raise
    bad = {t: s for t, s in states.items() if s not in TERMINAL_OK}
    collect(job, db, runs_dir, console)
    stopped = bad and all(s.startswith(("CANCELLED", "PREEMPTED")) for s in bad.values())
    by_run = _mark_runs(job, db, "interrupted" if stopped else "failed" if bad else "partial")
    if bad:
        raise ServemarkError(f"Slurm job {job_id}: task(s) {', '.join(f'{t} {s}' for t, s in sorted(bad.items()))}; "
                             f"output in {job.dir}; measured points are kept (resume with --resume)")
    return by_run


def run_as_job(recipe: Recipe, opts: Any, console: Console) -> Any:
    """``servemark run`` for ``executor.kind: slurm``: the same sweep, as one Slurm job."""
    from servemark.store import Store
    from servemark.sweep import resume
    from servemark.sweep.recipe_run import SweepResult, new_run_id

    if opts.endpoint:
        raise ServemarkError("--endpoint measures a running server; it does not combine with executor.kind slurm")
    with Store(opts.db) as store:
        state = resume.resolve(store, recipe, recipe_hash(recipe), new_run_id(recipe), opts.resume, opts.run_id)
    job = write_job([recipe], opts.runs_dir, [state.run_id], array=False, recipe_dirs=[opts.recipe_dir])
    points = run_job(job, opts.db, opts.runs_dir, console).get(state.run_id, [])
    return SweepResult(run_id=state.run_id, run_dir=opts.runs_dir / state.run_id, points=points)


def run_task(job_dir: Path, index: int, console: Console) -> None:
    """Inside the allocation: measure task ``index`` of the job into its store, then bundle it."""
    tasks = [Task(**t) for t in json.loads((job_dir / "tasks.json").read_text())]
    if not 0 <= index < len(tasks):
        raise ServemarkError(f"{job_dir}: no task {index} (the job has {len(tasks)})")
    t = tasks[index]

    def _term(signum: int, frame: Any) -> None:  # scancel / requeue / preemption: stop like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    run_dir = Path(t.runs_dir) / t.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID", "job")
    with open(run_dir / f"slurm-{job}-{index}.log", "a") as log:  # the client's log, in the run folder too
        _run_task(t, index, Console(file=_Tee(console.file, log), soft_wrap=True))


class _Tee:
    """A console file that writes to the job's output (streamed to the head) and a run-folder log."""

    def __init__(self, *files: Any):
        self.files = files

    def write(self, text: str) -> int:
        for f in self.files:
            f.write(text)
        return len(text)

    def flush(self) -> None:
        for f in self.files:
            f.flush()


def _run_task(t: Task, index: int, console: Console) -> None:
    from servemark.bundles import export_run
    from servemark.engines.check import load_recipe
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    console.print(f"task {index} on {os.environ.get('SLURMD_NODENAME', '?')} (job {os.environ.get('SLURM_JOB_ID', '?')}, "
                  f"restart {os.environ.get('SLURM_RESTART_COUNT', '0')}): run {t.run_id}")
    opts = SweepOptions(db=Path(t.db), runs_dir=Path(t.runs_dir), api_key=os.environ.get("SERVEMARK_API_KEY"),
                        run_id=t.run_id, layouts=t.layouts, recipe_dir=Path(t.recipe_dir) if t.recipe_dir else None)
    run_recipe(load_recipe(t.recipe), opts, console)
    export_run(Path(t.db), t.run_id, Path(t.bundle))
    console.print(f"bundle {t.bundle}")
