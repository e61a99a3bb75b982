"""Print the data/gpu figures as markdown tables: served, engine ceiling, speed of light, J/token.

One table per dataset (a recipe's sweep): per concurrency the served throughput per GPU and
interactivity, the engine ceiling (``llama-batched-bench`` at the same lengths and batch) and
served ÷ ceiling, the strict SOL per GPU on the same number of GPUs and measured ÷ SOL, the
calibrated SOL model's prediction at that concurrency (held out: fitted on InferenceX rows only),
the average board power summed over the GPUs, and J per output token.

    python benchmarks/gpu/figures.py [DATASET_NAME_SUBSTRING]
"""

from __future__ import annotations

import sys

from servemark.sol.gpu_data import calibrated_overlay, ceiling_overlay, datasets, load_ceiling, load_points, sol_overlay


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(folder) -> str:
    pts = sorted(load_points(folder), key=lambda p: p.conc)
    overlays = (sol_overlay(pts), calibrated_overlay(pts), ceiling_overlay(pts, load_ceiling(folder)))
    p0 = pts[0]
    lines = [f"**{folder.name}**: {p0.model}, {p0.gpu_count} x {p0.hardware}, tp {p0.tp} pp {p0.pp}, "
             f"ISL/OSL {p0.isl}/{p0.osl}",
             "",
             "| conc | served tok/s/GPU | tok/s/user | ceiling tok/s/GPU | served ÷ ceiling | out tok/s ÷ ceiling decode "
             "| SOL tok/s/GPU | ÷ SOL | calibrated pred. tok/s/GPU @ tok/s/user | avg W (all GPUs) | J/out tok |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in pts:
        e: dict = {}
        for o in overlays:
            e.update(o.get(p.point_id, {}))
        pred = (f"{e['calibrated_pred_tput_per_gpu']:.0f} @ {e['calibrated_pred_intvty']:.1f}"
                if "calibrated_pred_tput_per_gpu" in e else "-")
        lines.append(
            f"| {p.conc} | {fmt(p.tput_per_gpu, '.1f')} | {fmt(p.median_intvty, '.1f')} "
            f"| {fmt(e.get('ceiling_tput_per_gpu'), '.0f')} | {fmt(e.get('served_over_ceiling'), '.2f')} "
            f"| {fmt(e.get('served_output_over_ceiling'), '.2f')} | {fmt(e.get('sol_strict_tput_per_gpu'), ',.0f')} "
            f"| {fmt(e.get('sol_strict_fraction'), '.3f')} | {pred} | {fmt(p.avg_power_w, '.0f')} "
            f"| {fmt(p.joules_per_output_token, '.2f')} |")
    return "\n".join(lines)


def main() -> None:
    want = sys.argv[1] if len(sys.argv) > 1 else ""
    for folder in datasets():
        if want in folder.name:
            print(table(folder), end="\n\n")


if __name__ == "__main__":
    main()
