"""Hardware catalogue: provenance on every value, units, aliases to InferenceX keys, bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from servemark.errors import ServemarkError
from servemark.sol.hardware import NUMERIC_FIELDS, load_catalogue

PART_C = ["h100-sxm", "h100-pcie", "h200", "h20", "b200", "b300", "gb200", "gb300", "mi300x", "mi325x", "mi355x",
          "a100-sxm", "l40s", "l4"]
INFERENCEX_KEYS = ["h100", "h200", "b200", "b300", "gb200", "gb300", "mi300x", "mi325x", "mi355x"]


def test_every_part_c_row_and_a_measured_cpu_row():
    cat = load_catalogue()
    for key in PART_C:
        assert key in cat
    cpu = cat["cpu"]
    assert cpu.measured and cpu.source_of("hbm_bw_gbps").source == "measured-here"


def test_every_value_has_a_source_and_a_date():
    cat = load_catalogue()
    for key, acc in cat.items():
        for f in NUMERIC_FIELDS:
            if getattr(acc, f) is not None:
                prov = acc.source_of(f)
                assert prov is not None, (key, f)
                assert prov.title and len(prov.date) == 10, (key, f)


def test_inferencex_hardware_keys_resolve(inferencex_dir):
    rows = json.loads((inferencex_dir / "benchmarks.json").read_text())
    keys = {r["hardware"] for r in rows}
    cat = load_catalogue()
    assert keys <= {k for k in INFERENCEX_KEYS}
    for k in keys:
        assert k in cat


def test_units_dense_not_sparse_and_per_direction_links():
    cat = load_catalogue()
    h100 = cat["h100"]
    # NVIDIA quotes 3,958 FP8 TFLOPS "with sparsity" and 900 GB/s NVLink bidirectional
    assert h100.fp8_dense_tflops == pytest.approx(3958 / 2, rel=0.01)
    assert h100.scaleup_gbps_per_direction == 450
    assert cat["b200"].scaleup_gbps_per_direction == 900
    assert h100.peak_flops("fp8") == pytest.approx(1.979e15)
    assert h100.peak_flops("bf16") == pytest.approx(0.989e15)
    # no FP4 on Hopper: FP4 weights run on the FP8 units
    assert h100.peak_flops("fp4") == h100.peak_flops("fp8")
    # decimal GB, not GiB
    assert h100.memory_bytes == 80e9
    assert cat["gb200"].domain == 72 and cat["b200"].domain == 8


def test_bad_catalogue_names_file_and_key(tmp_path):
    p = tmp_path / "hw.yaml"
    p.write_text(yaml.safe_dump({"sources": {"s": {"title": "t"}}, "accelerators": {
        "x": {"memory_gb": {"value": 80, "source": "s", "date": "2026-01-01"},
              "hbm_bw_gbps": {"value": 3000, "source": "nope", "date": "2026-01-01"}}}}))
    with pytest.raises(ServemarkError, match=r"hw.yaml: accelerators.x.hbm_bw_gbps.source 'nope'"):
        load_catalogue(p)
    p.write_text(yaml.safe_dump({"sources": {}, "accelerators": {"x": {"memory_gb": 80}}}))
    with pytest.raises(ServemarkError, match="accelerators.x.memory_gb needs value, source and date"):
        load_catalogue(p)
    with pytest.raises(ServemarkError, match="unknown hardware 'tpu-v9'"):
        load_catalogue()["tpu-v9"]
