"""Measured / SOL on the real InferenceX rows (../shared), through the JSON and through the store."""

from __future__ import annotations

import math

import numpy as np
import pytest

from servemark.importers.inferencex import import_inferencex
from servemark.sol.calibrate import abs_log_errors, load_fitted, predict_at_conc
from servemark.sol.layout import DEFAULT_CALIBRATED
from servemark.sol.measured import fractions, from_point, load_inferencex_rows
from servemark.sol.store import write_fractions
from servemark.store import Store


@pytest.fixture(scope="module")
def ix_rows(shared_dir):
    rows = load_inferencex_rows(shared_dir / "data/inferencex")
    assert len(rows) == 1897
    return rows


def test_strict_bound_is_never_below_a_measurement(ix_rows):
    fr = fractions(ix_rows)
    assert len(fr) == 1897
    assert all(f.fraction is not None for f in fr)
    worst = max(fr, key=lambda f: f.fraction)
    assert worst.fraction <= 1.0, (worst.point_id, worst.config, worst.fraction)
    # and it is not vacuous: the best runs reach a tenth or more of it
    assert worst.fraction > 0.1


def test_calibrated_estimate_is_informative(ix_rows):
    eff = load_fitted() or DEFAULT_CALIBRATED
    err = abs_log_errors(ix_rows, eff)
    assert len(err) == 1897
    # in-sample median error well under a factor of 1.5 (the held-out figure is in the benchmark)
    assert np.median(err) < math.log(1.5)
    pred, intv, meas = predict_at_conc(ix_rows[:50], eff)
    assert np.all(np.isfinite(pred)) and np.all(intv > 0)


def test_fractions_through_the_store(inferencex_dir, tmp_path):
    db = tmp_path / "sol.duckdb"
    with Store(db) as st:
        import_inferencex(st, inferencex_dir / "benchmarks.json")
        pcs = [from_point(p) for p in st.points()]
        fr = fractions(pcs)
        assert write_fractions(st, fr) == len(pcs)
        rows = st.query("SELECT point_id, kind, sol_tput_per_gpu, fraction, note FROM sol_point_fractions")
        assert len(rows) == len(pcs)
        assert max(r["fraction"] for r in rows) <= 1.0
        # rewriting is an upsert, not a duplicate
        write_fractions(st, fr)
        assert st.query("SELECT count(*) AS n FROM sol_point_fractions")[0]["n"] == len(pcs)
