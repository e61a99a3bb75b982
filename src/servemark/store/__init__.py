"""The results store: one DuckDB file with runs, points and provenance; the only place DuckDB is used."""

from servemark.store.db import Store
from servemark.store.rows import POINT_COLUMNS, point_rows_table, rows_table, shallow_dict

__all__ = ["POINT_COLUMNS", "Store", "point_rows_table", "rows_table", "shallow_dict"]
