"""Request records on disk: one Parquet file per point, columns = RequestRecord fields.

Written atomically (temp file + rename) so a crash never leaves a half file that reads as a
complete point.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from servemark.errors import ServemarkError
from servemark.records import RequestRecord

SCHEMA = pa.schema([
    ("point_id", pa.string()),
    ("request_id", pa.int64()),
    ("scheduled_at", pa.float64()),
    ("sent_at", pa.float64()),
    ("first_token_at", pa.float64()),
    ("last_token_at", pa.float64()),
    ("done_at", pa.float64()),
    ("prompt_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("client_prompt_tokens", pa.int64()),
    ("client_output_tokens", pa.int64()),
    ("max_tokens", pa.int64()),
    ("chunk_times", pa.list_(pa.float64())),
    ("chunk_tokens", pa.list_(pa.int32())),
    ("error", pa.string()),
    ("error_detail", pa.string()),
    ("warmup", pa.bool_()),
    ("cached_tokens", pa.int64()),
    ("session_id", pa.int64()),
    ("turn", pa.int32()),
])
assert set(SCHEMA.names) == {f.name for f in fields(RequestRecord)}, "records schema out of date"


def write_records(records: list[RequestRecord], path: str | os.PathLike) -> Path:
    """One point's records to ``path`` as Parquet (written to a temp name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {name: [getattr(r, name) for r in records] for name in SCHEMA.names}
    table = pa.table(cols, schema=SCHEMA)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def read_records(path: str | os.PathLike) -> list[RequestRecord]:
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ServemarkError(f"{path}: cannot read request records ({exc})") from None
    missing = set(SCHEMA.names) - set(table.column_names)
    if {"point_id", "request_id", "scheduled_at"} & missing:
        raise ServemarkError(f"{path}: not a request-record file (missing {sorted(missing)})")
    out = []
    for row in table.to_pylist():
        row["chunk_times"] = row.get("chunk_times") or []
        row["chunk_tokens"] = row.get("chunk_tokens") or []
        out.append(RequestRecord.from_dict(row))
    return out
