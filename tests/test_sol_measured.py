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


def test_typed_layout_survives_the_store_and_sizes_the_instance(tmp_path):
    """A measured point keeps the recipe's Layout; the SOL reads its decode instance (GPUs per decode
    worker) and P:D ratio from it, not from the flat fields (2 decode workers of TP4 = 4-GPU
    instances; the flat count alone would say 8)."""
    from servemark.point import Point
    from servemark.recipe.schema import Layout

    lay = Layout.model_validate({"prefill": {"workers": 1, "tp": 4}, "decode": {"workers": 2, "tp": 4, "ep": 4}})
    p = Point(run_id="r", point_id="r-000", model="deepseek-r1", engine="sglang", hardware="h200",
              gpu_count=12, num_prefill_gpu=4, num_decode_gpu=8, disagg=True, precision="fp8", isl=1024,
              osl=1024, conc=64, median_intvty=50.0, tput_per_gpu=1000.0, layout=lay.model_dump(mode="json"))
    with Store(tmp_path / "l.duckdb") as st:
        st.add_point(p)
        back = st.points()[0]
    assert Layout.model_validate(back.layout) == lay
    pc = from_point(back)
    assert (pc.n_instance, pc.tp, pc.ep, pc.n_decode_total) == (4, 4, 4, 8)
    assert pc.prefill_per_decode_gpu == 0.5
    # an imported point (no typed layout) still reads the flat fields
    flat = from_point(Point(run_id="r", point_id="r-001", model="m", engine="vllm", hardware="h200", tp=2, pp=2,
                            isl=1, osl=1, conc=1))
    assert (flat.n_instance, flat.tp, flat.disagg) == (4, 2, False)
