"""The DuckDB store: upserts by point_id, schema follows the Point contract, survives reopen."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from servemark.errors import ServemarkError
from servemark.point import POINT_FIELDS, Point
from servemark.store import Store


def test_roundtrip_and_upsert(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        s.add_point(Point(point_id="a", conc=4, tput_per_gpu=12.5, flags=["x"], extra={"k": [1, 2]}))
        s.add_point(Point(point_id="a", conc=8))
        s.add_point(Point(point_id="b", conc=1, dp_attention=True))
    with Store(db, read_only=True) as s:
        pts = {p.point_id: p for p in s.points()}
    assert len(pts) == 2
    assert pts["a"].conc == 8 and pts["a"].flags == []
    assert pts["b"].dp_attention is True


def test_json_fields_roundtrip(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as s:
        s.add_point(Point(point_id="a", flags=["too_many_failures"], extra={"goodput": 0.5}))
        (p,) = s.points()
    assert p.flags == ["too_many_failures"] and p.extra == {"goodput": 0.5}


def test_missing_columns_are_added(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE points (point_id VARCHAR PRIMARY KEY, conc BIGINT)")
    con.execute("INSERT INTO points VALUES ('old', 3)")
    con.close()
    with Store(db) as s:
        cols = {r["column_name"] for r in s.query("DESCRIBE points")}
        assert set(POINT_FIELDS) <= cols
        assert s.points()[0].conc == 3
        # old rows read as they would have been written: workload = random (groups with new random
        # points), not NULL; a field without a scalar default stays NULL
        (row,) = s.query("SELECT workload, prefix_cache, cached_tokens FROM points")
    assert row == {"workload": "random", "prefix_cache": False, "cached_tokens": None}


def test_read_only_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServemarkError, match="no results store"):
        Store(tmp_path / "none.duckdb", read_only=True)


def test_point_without_id_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as s, pytest.raises(ValueError):
        s.add_point(Point())
