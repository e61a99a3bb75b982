"""Write calib/summary.csv the way `vllm bench sweep serve` does at its end
(`pd.DataFrame.from_records(all_data).to_csv(experiment_dir / "summary.csv")`, vllm 0.32.0
benchmarks/sweep/serve.py run_combs). The sweep itself stopped before this step because the vLLM
CPU environment has no pandas; run with any Python that has pandas."""
import json
from pathlib import Path

import pandas as pd

exp = Path(__file__).parent / "calib"
all_data = []
for comb in sorted(exp.glob("BENCH-*")):
    all_data.extend(json.loads((comb / "summary.json").read_text()))
pd.DataFrame.from_records(all_data).to_csv(exp / "summary.csv")
