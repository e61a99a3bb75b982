"""Print the ``llama-batched-bench`` command lines for a recipe, one argument a line, a blank line between.

The engine ceiling (issue 19): llama.cpp's own offline measurement at the sweep's batch sizes and
lengths: one invocation per layout and scenario, ``-npp ISL -ntg OSL -npl <the concurrencies>``,
the same split mode, flash attention and per-sequence KV streams (``-no-kvu``) as the server the
adapter starts, and a context of ``max(conc) x (ISL + OSL + 256)`` like the server's.
device_run.sh reads each block into a bash array (no word splitting).

    ceiling_argv.py RECIPE MODEL_PATH BINARY
"""
import sys
from pathlib import Path

import yaml

HEADROOM = 256  # the adapter's per-slot headroom (servemark.engines.llama_cpp.HEADROOM_TOKENS)

recipe, model, binary = sys.argv[1:4]
r = yaml.safe_load(Path(recipe).read_text())
concs = sorted(set(r["concurrency"]))
blocks = []
for lay in r.get("layouts") or [{}]:
    tp, pp = lay.get("tp", 1), lay.get("pp", 1)
    split = "row" if tp > 1 else "layer" if pp > 1 else "none"
    for sc in r["scenarios"]:
        isl, osl = sc["isl"], sc["osl"]
        blocks.append([binary, "-m", model, "-c", str(max(concs) * (isl + osl + HEADROOM)),
                       "-npp", str(isl), "-ntg", str(osl), "-npl", ",".join(map(str, concs)),
                       "-ngl", "999", "-sm", split, "-fa", "on", "-no-kvu", "--output-format", "jsonl"])
print("\n\n".join("\n".join(b) for b in blocks))
