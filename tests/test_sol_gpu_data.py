"""The GPU truth dataset imports into a real store with energy and measured / SOL on every point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from servemark.sol.gpu_data import data_root, datasets
from servemark.store import Store

pytestmark = pytest.mark.skipif(not datasets(), reason="no data/gpu in this checkout")


def test_import_gives_every_point_energy_and_sol(tmp_path):
    db = tmp_path / "gpu.duckdb"
    proc = subprocess.run([sys.executable, "-m", "servemark", "gpu-data", "--db", str(db)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with Store(db, read_only=True) as s:
        pts = s.points()
        assert len(pts) == 16
        for p in pts:
            assert p.hardware == "h200" and p.gpu_name == "NVIDIA H200" and p.isl == 1024 and p.osl == 256
            assert p.completed == p.num_requests and not p.flags
            assert p.energy_source == "nvml_energy_counter" and p.joules_per_output_token > 0
            assert p.joules_per_total_token < p.joules_per_input_token < p.joules_per_output_token
            assert 0 < p.extra["sol_strict_fraction"] < 1, p.extra
            assert 0 < p.extra["intvty_over_decode_bound"] < 1, p.extra
        assert sorted({p.conc for p in pts}) == [1, 2, 4, 8, 16, 32, 64, 128]
        front = s.query("SELECT count(*) AS n FROM sol_frontiers WHERE model = 'llama-3.1-8b-synth' AND hardware = 'h200'")
        assert front[0]["n"] > 0
        assert s.query("SELECT count(*) AS n FROM sol_point_fractions WHERE fraction > 0")[0]["n"] == 16
    # importing again adds nothing (point ids are the primary key)
    subprocess.run([sys.executable, "-m", "servemark", "gpu-data", "--db", str(db)], check=True, capture_output=True)
    with Store(db, read_only=True) as s:
        assert s.count_points() == 16


def test_per_slot_kv_beats_the_unified_cache_at_high_concurrency():
    """What the two sweeps showed on the H200: a unified KV cache caps llama.cpp at ~1.8k tok/s/GPU."""
    from servemark.sol.gpu_data import load_points

    unified = {p.conc: p for p in load_points(data_root() / "h200-llama31-8b-synth-llamacpp")}
    per_slot = {p.conc: p for p in load_points(data_root() / "h200-llama31-8b-synth-llamacpp-nokvu")}
    assert '"--kv-unified"' in unified[128].engine_args and "--no-kv-unified" in per_slot[128].engine_args
    assert per_slot[128].tput_per_gpu > 2 * unified[128].tput_per_gpu
    assert per_slot[128].joules_per_output_token < unified[128].joules_per_output_token / 3
