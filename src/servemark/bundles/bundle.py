"""Export a run as a bundle; import bundles into a store (idempotent, checksums verified).

A bundle is a gzip'd tar holding:

- ``manifest.json``: format and version, the run id, and for every other member its size in
  bytes and SHA-256;
- ``run.json`` (the run row), ``points.parquet`` (the run's points, the store's columns),
  ``recipe.json`` (resolved recipe), ``plan.json`` (planned points with their ids);
- ``records/<point>.parquet`` (request records) and ``logs/`` (engine logs, launch files, the
  Slurm task's own log).

Import reads the whole bundle and checks it before touching the store: every member listed
with the right size and checksum, nothing unlisted, the tar complete. A truncated or altered
bundle is refused naming the file and the member. The checksums catch corruption and
truncation, not a deliberate forger (who can rewrite the manifest too): sign bundles outside
servemark when that matters. Points are upserted by ``point_id``, so importing a bundle twice,
or bundles that overlap, adds nothing twice. Several bundles of one run (job-array tasks that
each measured a layout, or a job and its resumed continuation) merge: the run row keeps the
earliest start, and the status of the bundle that finished last.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from servemark.errors import ServemarkError
from servemark.store import POINT_COLUMNS, Store, point_rows_table
from servemark.store.db import RUN_COLUMNS

FORMAT = "servemark-bundle"
VERSION = 1
MANIFEST = "manifest.json"


class BundleError(ServemarkError):
    pass


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _run_files(run_dir: Path, point_ids: set[str]) -> dict[str, bytes]:
    """Files of the run folder that travel: recipe, plan, this run's records, engine logs, launches."""
    out: dict[str, bytes] = {}
    if not run_dir.is_dir():
        return out
    for name in ("recipe.json", "plan.json"):
        if (run_dir / name).is_file():
            out[name] = (run_dir / name).read_bytes()
    for f in sorted((run_dir / "records").glob("*.parquet")):
        if f.stem in point_ids:
            out[f"records/{f.name}"] = f.read_bytes()
    for pattern in ("engine-*.log", "launch-*.json", "slurm-*.log"):
        for f in sorted(run_dir.glob(pattern)):
            out[f"logs/{f.name}"] = f.read_bytes()
    return out


def export_run(db: Path, run_id: str, out: Path) -> dict[str, Any]:
    """Write run ``run_id`` of store ``db`` to bundle ``out``; returns the manifest."""
    with Store(db, read_only=True) as store:
        return export_from(store, run_id, out)


def export_from(store: Store, run_id: str, out: Path) -> dict[str, Any]:
    """:func:`export_run` on a store already open (many runs exported in a row)."""
    rows = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        raise BundleError(f"no run {run_id!r} in {store.path}")
    points = store.points("run_id = ?", [run_id])
    run = rows[0]
    members: dict[str, bytes] = {
        "run.json": json.dumps(run, sort_keys=True, default=str).encode(),
        "points.parquet": _parquet_bytes(point_rows_table(points)),
    }
    members.update(_run_files(Path(run["run_dir"] or ""), {p.point_id for p in points}))
    manifest = {
        "format": FORMAT, "version": VERSION, "run_id": run_id, "points": len(points),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {name: {"bytes": len(data), "sha256": _sha(data)} for name, data in sorted(members.items())},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w:gz", compresslevel=3) as tar:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)  # a reader never sees a half-written bundle under the final name
    return manifest


@dataclass
class Bundle:
    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]


def _read(path: Path) -> Bundle:
    """Read and verify the whole bundle (members, sizes, checksums) or raise :class:`BundleError`."""
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle")
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for m in tar:
                if not m.isfile():
                    raise BundleError(f"{path}: member {m.name!r} is not a plain file; refused")
                fh = tar.extractfile(m)
                files[m.name] = fh.read() if fh else b""
    except BundleError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BundleError(f"{path}: not a complete bundle (truncated or corrupted: {exc}); refused") from None
    if MANIFEST not in files:
        raise BundleError(f"{path}: no {MANIFEST}; not a servemark bundle")
    try:
        manifest = json.loads(files.pop(MANIFEST))
    except ValueError:
        raise BundleError(f"{path}: {MANIFEST} is not valid JSON; refused") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BundleError(f"{path}: format {manifest.get('format')!r} v{manifest.get('version')} is not {FORMAT} v{VERSION}")
    listed = manifest.get("files") or {}
    for name in sorted(set(listed) | set(files)):
        if name not in files:
            raise BundleError(f"{path}: {name} is listed in the manifest but missing; refused")
        if name not in listed:
            raise BundleError(f"{path}: {name} is not in the manifest; refused")
        data, want = files[name], listed[name]
        if len(data) != want.get("bytes") or _sha(data) != want.get("sha256"):
            raise BundleError(f"{path}: {name} does not match its checksum in the manifest (tampered or corrupted); refused")
    for name in ("run.json", "points.parquet"):
        if name not in files:
            raise BundleError(f"{path}: {name} missing; refused")
    return Bundle(path, manifest, files)


def read_manifest(path: Path) -> dict[str, Any]:
    return _read(path).manifest


@dataclass
class ImportResult:
    bundles: int = 0
    points: int = 0
    added: int = 0
    runs: list[str] = field(default_factory=list)


def _merge_run(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    row = {k: new.get(k) for k in RUN_COLUMNS}
    if old is None:
        return row
    row["started_at"] = min(filter(None, [old.get("started_at"), row.get("started_at")]), default=None)
    if (old.get("finished_at") or "") > (row.get("finished_at") or ""):
        row["finished_at"], row["status"] = old["finished_at"], old.get("status")
    return row


def _points_table(b: Bundle) -> pa.Table:
    table = pq.read_table(io.BytesIO(b.files["points.parquet"]))
    keep = [c for c in table.column_names if c in POINT_COLUMNS]
    return table.select(keep)


def _last_per_id(table: pa.Table) -> pa.Table:
    """One row per ``point_id`` (the last one), so overlapping bundles in one call insert once."""
    last = {pid: i for i, pid in enumerate(table.column("point_id").to_pylist())}
    return table if len(last) == table.num_rows else table.take(sorted(last.values()))


def import_bundles(paths: list[Path], db: Path, runs_dir: Path) -> ImportResult:
    """Verify every bundle first (all or nothing), then merge them into ``db`` and ``runs_dir``.

    All points go in as one Arrow table and one transaction, and the run rows as another: the
    cost of merging is then that of reading the bundles, not of a thousand small commits.
    """
    # reading is gunzip, SHA-256 and Parquet decoding, all of which release the GIL: use the cores
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        bundles = list(pool.map(lambda p: _read(Path(p)), paths))
        point_tables = list(pool.map(_points_table, bundles))
    res = ImportResult(bundles=len(bundles))
    runs: dict[str, dict[str, Any]] = {}
    tables: list[pa.Table] = []
    for b, table in zip(bundles, point_tables):
        run = json.loads(b.files["run.json"])
        rid = run["run_id"]
        run_dir = runs_dir / rid
        for name, data in b.files.items():
            if name.startswith(("records/", "logs/")) or name in ("recipe.json", "plan.json"):
                dest = run_dir / name.removeprefix("logs/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        runs[rid] = _merge_run(runs.get(rid), {**run, "run_dir": str(run_dir)})
        tables.append(table)
        res.points += tables[-1].num_rows
    res.runs = list(runs)
    incoming = _last_per_id(pa.concat_tables(tables, promote_options="default")) if tables else None
    with Store(db) as store:
        if incoming is not None and incoming.num_rows:
            ids = incoming.column("point_id").to_pylist()
            have = store.query("SELECT count(*) AS n FROM points WHERE point_id IN (SELECT unnest(?))", [ids])[0]["n"]
            res.added = len(ids) - int(have)
            store.upsert_table(incoming)
        old = {r["run_id"]: r for r in store.query("SELECT * FROM runs WHERE run_id IN (SELECT unnest(?))", [list(runs)])}
        rows = [_merge_run(old.get(rid), row) for rid, row in runs.items()]
        store.upsert_runs(rows)
    return res
