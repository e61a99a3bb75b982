"""The GPU truth dataset imports into a real store with energy and measured / SOL on every point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from servemark.sol.gpu_data import data_root, datasets
from servemark.store import Store

pytestmark = pytest.mark.skipif(not datasets(), reason="no data/gpu in this checkout")


def _all_points() -> list:
    from servemark.sol.gpu_data import load_points

    return [p for f in datasets() for p in load_points(f)]


def test_import_gives_every_point_energy_sol_and_the_held_out_calibrated_prediction(tmp_path):
    db = tmp_path / "gpu.duckdb"
    proc = subprocess.run([sys.executable, "-m", "servemark", "gpu-data", "--db", str(db)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    n_all = len(_all_points())
    with Store(db, read_only=True) as s:
        pts = s.points()
        assert len(pts) == n_all >= 16 + 18
        for p in pts:
            assert p.hardware == "h200" and p.gpu_name == "NVIDIA H200"
            assert p.completed == p.num_requests and not p.flags
            assert p.energy_source == "nvml_energy_counter" and p.joules_per_output_token > 0
            assert p.joules_per_total_token < p.joules_per_output_token
            assert 0 < p.extra["sol_strict_fraction"] < 1, p.extra
            assert 0 < p.extra["intvty_over_decode_bound"] < 1, p.extra
            # the calibrated estimate (fitted on InferenceX rows only) predicts every point
            assert p.extra["calibrated_pred_tput_per_gpu"] > 0 and p.extra["calibrated_pred_intvty"] > 0, p.extra
        assert sorted({(p.isl, p.osl) for p in pts}) == [(1024, 256), (1024, 1024), (1024, 8192), (8192, 1024)]
        assert {p.model for p in pts} == {"llama-3.1-8b-synth", "llama-3.1-70b-synth", "qwen3-30b-a3b-synth"}
        front = s.query("SELECT count(*) AS n FROM sol_frontiers WHERE model = 'llama-3.1-70b-synth' AND hardware = 'h200'")
        assert front[0]["n"] > 0
        assert s.query("SELECT count(*) AS n FROM sol_point_fractions WHERE fraction > 0")[0]["n"] == n_all
    # importing again adds nothing (point ids are the primary key)
    subprocess.run([sys.executable, "-m", "servemark", "gpu-data", "--db", str(db)], check=True, capture_output=True)
    with Store(db, read_only=True) as s:
        assert s.count_points() == n_all


def test_per_slot_kv_beats_the_unified_cache_at_high_concurrency():
    """What the two sweeps showed on the H200: a unified KV cache caps llama.cpp at ~1.8k tok/s/GPU."""
    from servemark.sol.gpu_data import load_points

    unified = {p.conc: p for p in load_points(data_root() / "h200-llama31-8b-synth-llamacpp")}
    per_slot = {p.conc: p for p in load_points(data_root() / "h200-llama31-8b-synth-llamacpp-nokvu")}
    assert '"--kv-unified"' in unified[128].engine_args and "--no-kv-unified" in per_slot[128].engine_args
    assert per_slot[128].tput_per_gpu > 2 * unified[128].tput_per_gpu
    assert per_slot[128].joules_per_output_token < unified[128].joules_per_output_token / 3


# ---- the multi-GPU accounting, proven on the 2 x H200 sweeps (issue 20) -------------------------

TWO_GPU = ["h200x2-llama31-70b-synth-llamacpp-layer", "h200x2-llama31-70b-synth-llamacpp-row"]


def _records(folder, point_id: str) -> list:
    import pyarrow.parquet as pq

    from servemark.records import RequestRecord

    fields = RequestRecord.__dataclass_fields__
    rows = pq.read_table(folder / "records" / f"{point_id}.parquet").to_pylist()
    return [RequestRecord(**{k: v for k, v in r.items() if k in fields}) for r in rows]


@pytest.mark.parametrize("name", TWO_GPU)
def test_two_gpu_throughput_per_gpu_divides_the_window_tokens_by_two(name):
    from servemark.sol.gpu_data import load_points
    from servemark.metrics.summarize import summarize

    folder = data_root() / name
    for p in load_points(folder):
        assert p.gpu_count == 2 and p.tp * p.pp == 2 and p.hardware == "h200"
        recs = _records(folder, p.point_id)
        two, one = summarize(recs, gpu_count=2), summarize(recs, gpu_count=1)
        assert two["tput_per_gpu"] == pytest.approx(p.tput_per_gpu, rel=1e-9)
        assert two["output_tput_per_gpu"] == pytest.approx(p.output_tput_per_gpu, rel=1e-9)
        assert one["tput_per_gpu"] == pytest.approx(2 * p.tput_per_gpu, rel=1e-9)
        # and by hand: (input + output tokens of the measured requests) / window / 2
        meas = [r for r in recs if not r.warmup and r.ok]
        tokens = sum(r.prompt_tokens + r.output_tokens for r in meas)
        assert p.tput_per_gpu == pytest.approx(tokens / p.duration / 2, rel=1e-9)


@pytest.mark.parametrize("name", TWO_GPU)
def test_two_gpu_energy_is_the_sum_over_both_gpus_of_each_window(name):
    import gzip
    import json

    from servemark.sol.gpu_data import load_points
    from servemark.metrics.summarize import window
    from servemark.telemetry.energy import integrate_window
    from servemark.telemetry.nvml import Sample

    folder = data_root() / name
    trace = json.loads(gzip.open(next(folder.glob("nvml-trace-*.json.gz"))).read())
    assert [g["index"] for g in trace["gpus"]] == [0, 1] and len({g["uuid"] for g in trace["gpus"]}) == 2
    samples = sorted((Sample.from_dict(d) for d in trace["samples"]), key=lambda s: s.t)
    for p in load_points(folder):
        t0, t1 = window([r for r in _records(folder, p.point_id) if not r.warmup])
        both = integrate_window(samples, t0, t1, 2)
        only0 = integrate_window([Sample(t=s.t, energy_mj=s.energy_mj[:1]) for s in samples], t0, t1, 1)
        only1 = integrate_window([Sample(t=s.t, energy_mj=s.energy_mj[1:]) for s in samples], t0, t1, 1)
        # the stored energy is both GPUs' counters over the point's window, not one GPU's
        assert p.energy_j == pytest.approx(both.energy_j, rel=0.02)
        assert p.energy_j == pytest.approx(only0.energy_j + only1.energy_j, rel=0.02)
        assert only0.energy_j > 0.25 * p.energy_j and only1.energy_j > 0.25 * p.energy_j  # both GPUs worked
        assert sum(p.extra["per_gpu_energy_j"]) == pytest.approx(p.energy_j, rel=1e-9)
        assert p.avg_power_w == pytest.approx(p.energy_j / p.duration, rel=0.01)
        assert p.joules_per_output_token == pytest.approx(p.energy_j / p.total_output_tokens, rel=1e-9)
        tel = p.extra["gpu_telemetry"]
        assert [g["index"] for g in tel] == [0, 1]
        # the 141 GB of weights are split over both GPUs: each holds more than a third of them
        assert all(g["max_mem_used_bytes"] > 141e9 / 3 for g in tel)


@pytest.mark.parametrize("name", TWO_GPU)
def test_two_gpu_speed_of_light_uses_the_two_gpu_layout(name):
    from servemark.sol.gpu_data import load_points, sol_overlay
    from servemark.sol.decode_bound import decode_step_floor_s

    pts = load_points(data_root() / name)
    ov = sol_overlay(pts)
    for p in pts:
        d = ov[p.point_id]
        assert d["sol_strict_layout"] == "agg-2gpu"
        one = decode_step_floor_s("llama-3.1-70b", "h200", "fp16", batch=p.conc, kv_len=p.isl + p.osl // 2, n_gpu=1)
        assert d["decode_bound_intvty"] == pytest.approx(2.0 / one, rel=1e-9)  # both GPUs' HBM
        assert d["sol_strict_fraction"] == pytest.approx(p.tput_per_gpu / d["sol_strict_tput_per_gpu"], rel=1e-9)


def test_one_gpu_lanes_metered_only_their_own_gpu():
    """Two 1-GPU sweeps shared the 2-GPU host (GPU_LANE=0 and 1 at the same time): each point's
    energy and telemetry are its own GPU's alone."""
    from servemark.sol.gpu_data import load_points

    lanes = {"h200-llama31-8b-synth-llamacpp-1k1k": 0, "h200-llama31-8b-synth-llamacpp-8k1k": 0,
             "h200-qwen3-30b-a3b-synth-llamacpp-1k1k": 1, "h200-llama31-8b-synth-llamacpp-1k8k": 1}
    for name, gpu in lanes.items():
        for p in load_points(data_root() / name):
            assert p.gpu_count == 1 and [g["index"] for g in p.extra["gpu_telemetry"]] == [gpu], name
            assert len(p.extra["per_gpu_energy_j"]) == 1
            assert '"CUDA_VISIBLE_DEVICES": "%d"' % gpu in json_dumps(p.recipe), name


def json_dumps(recipe: str) -> str:
    import json

    return json.dumps(json.loads(recipe).get("engine", {}).get("env", {}))


def test_engine_ceiling_sits_above_what_the_server_delivers():
    """The three levels on the recorded sweeps: served <= engine ceiling (llama-batched-bench at the
    same lengths and batch) <= strict SOL, wherever a ceiling was measured."""
    from servemark.sol.gpu_data import ceiling_overlay, load_ceiling, load_points, sol_overlay

    n = 0
    for f in datasets():
        rows = load_ceiling(f)
        if not rows:
            continue
        pts = load_points(f)
        ceil, sol = ceiling_overlay(pts, rows), sol_overlay(pts)
        for p in pts:
            if p.point_id not in ceil:
                continue
            c = ceil[p.point_id]
            n += 1
            assert c["served_over_ceiling"] <= 1.05, (f.name, p.conc, c)  # 5%: one short request round
            assert c["ceiling_tput_per_gpu"] < sol[p.point_id]["sol_strict_tput_per_gpu"]
            assert c["ceiling_tput_per_gpu"] == pytest.approx(
                rows[(p.isl, p.osl, p.conc)]["speed"] / p.gpu_count, rel=1e-9)
    assert n == 12  # 70B layer 4, 8B 1k/1k 3, 8k/1k 2, MoE 3 (the tensor-split and 1k/8k ceilings were not run)
