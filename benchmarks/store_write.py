"""Store write cost: one point at a time (a sweep) and 2,000 at once (an import), same Arrow path.

Run: ``python benchmarks/store_write.py``. Prints ms per single-point write and seconds for a bulk
write of new points and for the same points again (the upsert replaces them).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from servemark.point import Point
from servemark.store import Store


def main(single: int = 200, bulk: int = 2000) -> None:
    pts = [Point(point_id=f"p{i}", conc=i, tput_per_gpu=1.0, extra={"a": 1}) for i in range(single + bulk)]
    with tempfile.TemporaryDirectory() as d, Store(Path(d) / "s.duckdb") as s:
        t = time.perf_counter()
        for p in pts[:single]:
            s.add_point(p)
        one = (time.perf_counter() - t) / single
        t = time.perf_counter()
        s.add_points(pts[single:])
        new = time.perf_counter() - t
        t = time.perf_counter()
        s.add_points(pts[single:])
        again = time.perf_counter() - t
    print(f"one point: {one * 1e3:.1f} ms; {bulk} new points: {new:.2f} s; the same {bulk} again: {again:.2f} s")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="DuckDB store write cost: one point, then a bulk write twice.",
                                 epilog="Needs only servemark (a temporary store).")
    ap.add_argument("--single", type=int, default=200, help="single-point writes to time")
    ap.add_argument("--bulk", type=int, default=2000, help="points in the bulk write")
    a = ap.parse_args()
    main(a.single, a.bulk)
