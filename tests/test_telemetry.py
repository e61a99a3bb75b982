"""Energy over the exact benchmark window: integration rules, fallbacks, and the H200 recordings.

The recorded tests use NVML traces taken on an H200 by a separate recorder process during the
sweeps in data/gpu/ (timestamps on the shared monotonic clock), so a window integrated here is
the same window the sweep's own meter integrated.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from servemark.metrics.summarize import window
from servemark.point import Point
from servemark.records import RequestRecord
from servemark.telemetry.energy import (SOURCE_COUNTER, SOURCE_POWER, EnergyMeter, EnergyReading,
                                        apply_to_point, counter_energy_j, integrate_window, power_energy_j)
from servemark.telemetry.nvml import Sample, load_nvml

DATA = Path(__file__).resolve().parents[1] / "data" / "gpu"


def _samples(ts, power, counter=None):
    return [Sample(t=t, power_w=[p], energy_mj=[c] if counter is not None else [None])
            for t, p, c in zip(ts, power, counter if counter is not None else [None] * len(ts))]


def test_constant_power_window_cut_between_samples():
    ts = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    counter = [t * 300_000.0 for t in ts]  # 300 W = 300,000 mJ/s
    r = integrate_window(_samples(ts, [300.0] * 6, counter), 0.05, 0.42, 1)
    assert r.source == SOURCE_COUNTER
    assert r.energy_j == pytest.approx(300.0 * 0.37)
    assert r.avg_power_w == pytest.approx(300.0)
    assert r.samples_in_window == 4


def test_power_ramp_is_integrated_exactly_by_trapezoids():
    ts = [0.0, 0.25, 0.5, 1.0, 2.0]
    power = [100.0 + 200.0 * t for t in ts]  # linear: the trapezoid rule is exact
    e = power_energy_j(ts, power, 0.1, 1.7)
    assert e == pytest.approx(100 * 1.6 + 100 * (1.7**2 - 0.1**2))


def test_samples_outside_the_window_do_not_count():
    ts = [0.0, 1.0, 2.0, 3.0]
    counter = [0.0, 1000.0, 51000.0, 52000.0]  # a 50 J burst between t=1 and t=2
    assert counter_energy_j(ts, counter, 2.0, 3.0) == pytest.approx(1.0)
    assert counter_energy_j(ts, counter, 1.5, 2.0) == pytest.approx(25.0)  # half the burst, linearly


def test_missing_counter_on_one_gpu_falls_back_to_power_for_all():
    ts = [0.0, 1.0, 2.0]
    s = [Sample(t=t, power_w=[100.0, 200.0], energy_mj=[t * 1e5, None]) for t in ts]
    r = integrate_window(s, 0.5, 1.5, 2)
    assert r.source == SOURCE_POWER and "power samples" in r.note
    assert r.per_gpu_energy_j == pytest.approx([100.0, 200.0])
    assert r.energy_j == pytest.approx(300.0)


def test_counter_that_goes_backwards_is_not_trusted():
    ts = [0.0, 1.0, 2.0]
    r = integrate_window(_samples(ts, [50.0] * 3, [9e6, 1.0, 2.0]), 0.0, 2.0, 1)
    assert r.source == SOURCE_POWER and r.energy_j == pytest.approx(100.0)


def test_uncovered_or_empty_window_gives_no_energy_and_says_why():
    s = _samples([1.0, 2.0], [10.0, 10.0], [0.0, 1e4])
    r = integrate_window(s, 0.5, 1.5, 1)
    assert r.energy_j is None and r.source == "" and "do not cover" in r.note
    assert integrate_window(s, 1.5, 1.5, 1).note.startswith("empty window")
    assert integrate_window([], 0.0, 1.0, 1).note == "no samples recorded"


def test_without_nvml_fields_are_empty_with_the_reason():
    nv, reason = load_nvml()
    if nv is not None:
        pytest.skip("NVML present on this machine")
    m = EnergyMeter()
    m.start()
    r = m.read(0.0, 1.0)
    m.stop()
    assert not m.available and r.energy_j is None and r.source == ""
    assert r.note == reason and "NVML unavailable" in reason
    p = Point(point_id="x", total_input_tokens=100, total_output_tokens=10)
    apply_to_point(p, r)
    assert p.energy_j is None and p.joules_per_output_token is None and p.energy_note == reason


def test_joules_per_token_each_divide_the_whole_window_energy():
    p = Point(point_id="x", total_input_tokens=1000, total_output_tokens=250)
    apply_to_point(p, EnergyReading(energy_j=500.0, avg_power_w=400.0, source=SOURCE_COUNTER,
                                    gpus=[{"name": "NVIDIA H200", "driver": "580.159.04"}]))
    assert p.joules_per_total_token == pytest.approx(0.4)
    assert p.joules_per_input_token == pytest.approx(0.5)
    assert p.joules_per_output_token == pytest.approx(2.0)
    assert (p.gpu_name, p.gpu_driver, p.energy_source) == ("NVIDIA H200", "580.159.04", SOURCE_COUNTER)


def _traces(folder: Path) -> list[Sample]:
    out = []
    for f in sorted(folder.glob("nvml-trace-*.json.gz")):
        out += [Sample.from_dict(d) for d in json.loads(gzip.open(f).read())["samples"]]
    return sorted(out, key=lambda s: s.t)


def _trace_gpus(folder: Path) -> int:
    """GPUs the recorder metered (all of them on a 2-GPU sweep, the lane's one on a 1-GPU sweep)."""
    counts = {len(json.loads(gzip.open(f).read())["gpus"]) for f in folder.glob("nvml-trace-*.json.gz")}
    assert len(counts) == 1, counts
    return counts.pop()


def _point_windows(folder: Path):
    for row in pq.read_table(folder / "points.parquet").to_pylist():
        recs = pq.read_table(folder / "records" / f"{row['point_id']}.parquet").to_pylist()
        fields = RequestRecord.__dataclass_fields__
        measured = [RequestRecord(**{k: v for k, v in r.items() if k in fields}) for r in recs if not r["warmup"]]
        yield row, window(measured)


@pytest.mark.skipif(not DATA.is_dir(), reason="no data/gpu in this checkout")
@pytest.mark.parametrize("folder", sorted(p.name for p in DATA.glob("*/") if (p / "points.parquet").is_file()))
def test_h200_recordings_reproduce_every_points_energy(folder):
    samples = _traces(DATA / folder)
    n = _trace_gpus(DATA / folder)
    assert len(samples) > 1000
    for row, (t0, t1) in _point_windows(DATA / folder):
        counter = integrate_window(samples, t0, t1, n)
        power = integrate_window([Sample(t=s.t, power_w=s.power_w) for s in samples], t0, t1, n)
        assert counter.source == SOURCE_COUNTER and power.source == SOURCE_POWER
        # the sweep's in-process meter and the separate recorder read the same counter
        assert counter.energy_j == pytest.approx(row["energy_j"], rel=0.02), row["conc"]
        # 10 Hz power samples integrated over the window agree with the driver's counter (within
        # 0.7% on the 2026-11-22 sweeps; 2.7% on a 14 s window of the 2026-11-29 ones)
        assert power.energy_j == pytest.approx(counter.energy_j, rel=0.03), row["conc"]
        assert 60.0 * n < counter.avg_power_w < 700.0 * n  # between idle and the H200's 700 W limit, per GPU


def test_dump_and_load_round_trip(tmp_path):
    s = _samples([0.0, 1.0, 2.0], [100.0, 100.0, 100.0], [0.0, 1e5, 2e5])
    m = EnergyMeter.from_samples(s, [{"name": "GPU-A"}])
    m.dump(tmp_path / "t.json")
    r = EnergyMeter.load(tmp_path / "t.json").read(0.5, 1.5)
    assert r.energy_j == pytest.approx(100.0) and r.gpus[0]["name"] == "GPU-A"
