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


def test_transaction_rolls_back_the_whole_block(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as s:
        s.add_point(Point(point_id="keep", conc=1))
        with pytest.raises(RuntimeError), s.transaction():
            s.execute("DELETE FROM points")
            raise RuntimeError("boom")
        assert [p.point_id for p in s.points()] == ["keep"]


def test_upsert_rows_by_composite_key_and_replace_where(tmp_path: Path) -> None:
    cols = {"point_id": "VARCHAR", "kind": "VARCHAR", "v": "DOUBLE"}
    with Store(tmp_path / "s.duckdb") as s:
        s.ensure_table("t", cols)
        s.upsert_rows("t", [{"point_id": "a", "kind": "x", "v": 1.0}, {"point_id": "a", "kind": "y", "v": 2.0}],
                      cols, ("point_id", "kind"))
        s.upsert_rows("t", [{"point_id": "a", "kind": "x", "v": 3.0}], cols, ("point_id", "kind"))
        assert s.query("SELECT kind, v FROM t ORDER BY kind") == [{"kind": "x", "v": 3.0}, {"kind": "y", "v": 2.0}]
        s.replace_where("t", "point_id", "a", [{"point_id": "a", "kind": "z", "v": 4.0}], cols)
        assert s.query("SELECT kind, v FROM t") == [{"kind": "z", "v": 4.0}]
        s.replace_where("t", "point_id", "a", [], cols)
        assert s.query("SELECT * FROM t") == []


def test_sweep_and_import_share_one_write_path(tmp_path: Path) -> None:
    """``add_point`` (a sweep's one point) and a bulk import both go through ``upsert_table``."""
    calls: list[int] = []
    with Store(tmp_path / "s.duckdb") as s:
        real = s.upsert_table
        s.upsert_table = lambda table, *a, **k: calls.append(table.num_rows) or real(table, *a, **k)  # type: ignore[method-assign]
        s.add_point(Point(point_id="a"))
        s.add_points([Point(point_id=f"p{i}") for i in range(3)])
        s.upsert_run({"run_id": "r"})
    assert calls == [1, 3, 1]


def test_values_of_another_type_are_cast_not_lost(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as s:
        s.add_point(Point(point_id="a", engine_version=3, conc=True, tput_per_gpu=2))  # type: ignore[arg-type]
        s.upsert_run({"run_id": "r", "note": 7})
        (p,) = s.points()
        assert (p.engine_version, p.conc, p.tput_per_gpu) == ("3", 1, 2.0)
        assert s.runs()[0]["note"] == "7"
