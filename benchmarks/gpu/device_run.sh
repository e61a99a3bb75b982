#!/usr/bin/env bash
# GPU jobs on a host without network: build llama.cpp (CUDA) from the job folder's source,
# synthesise the recipes' models with `servemark model synth`, sweep them with `servemark run`
# (NVML energy per point, an NVML trace beside it), measure the engine ceiling with
# `llama-batched-bench`, and pack the results into $OUT.
#
# Run from a job folder made by make_job.py: src/ (servemark), whl/ (wheels the GPU image lacks),
# llama-cpp-slim.tar.gz, this script, remaining.py, ceiling_argv.py and the recipes. Every stage is
# idempotent, keyed on files under $W, so a second call on a still-warm machine skips to the
# points not yet measured.
#
#   device_run.sh TOTAL_S                      the H200 truth run: prepare, sweep recipe-h200.yaml
#                                              (or $RECIPE), collect; TOTAL_S is the whole allowance
#   device_run.sh prepare RECIPE...            host info, Python deps, CUDA build (llama-server,
#                                              llama-batched-bench), each recipe's model if missing
#   device_run.sh sweep DEADLINE RECIPE        the recipe's points not yet stored, stopped (SIGINT:
#                                              finished points are kept) at DEADLINE (epoch seconds)
#   device_run.sh bench DEADLINE RECIPE        llama-batched-bench at the recipe's lengths and batch sizes
#   device_run.sh build                        only the llama.cpp build (VARIANT=cpu: without CUDA)
#   device_run.sh drop RECIPE                  delete the recipe's model files (room for the next)
#   device_run.sh collect                      results (Parquet, records, traces, logs) to $OUT
#
# A recipe whose model path ends in -00001-of-0000N.gguf gets shards of at most $SPLIT_GB GB
# (default 100): the first where the path says, the others in a RAM disk ($W/ram, tmpfs), linked
# beside it; so a model larger than the disk (a 141 GB 70B FP16 on a 128 GB disk) still loads.
#
# GPU_LANE=1 (say) runs a sweep or bench on those GPUs only: engine, NVML meter and trace.
# Argument lists are bash arrays throughout: a flag with spaces (the AMX -m flags) stays one argument.
set -uo pipefail
JOB=$(cd "$(dirname "$0")" && pwd)
W=${GPUJOB_DIR:-/tmp/gpujob}
OUT=${OUT:-$W/out}
mkdir -p "$W" "$OUT" "$W/logs" "$W/db" "$W/runs" "$W/traces" "$W/bench"
export PYTHONUNBUFFERED=1 PATH="$PATH:/usr/local/cuda/bin"
PY=${PYTHON:-python3}
# VARIANT=cpu builds llama.cpp without CUDA (the CPU-side test of a job folder); else CUDA for $CUDA_ARCH
VARIANT=${VARIANT:-cuda}
# NVLink multicast stays off on shared multi-GPU hosts (NCCL is not used by llama.cpp; kept anyway)
export NCCL_NVLS_ENABLE=0
log() { echo "[$(date -u +%T)] $*"; }
BUILD="$W/build"
TARGETS=(llama-server llama-batched-bench)

env_setup() {
  if [ ! -f "$W/site/.ok" ] && compgen -G "$JOB/whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$W/site" "$JOB"/whl/*.whl || return 1
    touch "$W/site/.ok"
  fi
  export PYTHONPATH="$W/site:$JOB/src" SERVEMARK_HOME="$W/home" SERVEMARK_LLAMA_CPP_SRC="$W/llama.cpp"
  [ -d "$W/llama.cpp" ] || tar xzf "$JOB/llama-cpp-slim.tar.gz" -C "$W" || return 1
  export SERVEMARK_LLAMA_SERVER="$BUILD/bin/llama-server"
  if [ -n "${GPU_LANE:-}" ]; then export CUDA_VISIBLE_DEVICES="$GPU_LANE"; fi
}

build() {
  local flags gen=()
  local cuda=True arch=${CUDA_ARCH:-90} variant
  [ "$VARIANT" = cpu ] && cuda=False
  variant=$($PY -c "from servemark.engine_envs.llama_cpp import variant_name; print(variant_name($cuda, '$arch'))")
  # one argument a line into an array: a flag holding spaces (-DCMAKE_C_FLAGS=-mno-amx-tile ...) stays one
  mapfile -t flags < <($PY -c "from servemark.engine_envs.llama_cpp import cmake_args; print('\n'.join(cmake_args($cuda, '$arch')))")
  command -v ninja >/dev/null && gen=(-G Ninja)
  local tb; tb=$(date +%s)
  cmake -S "$W/llama.cpp" -B "$BUILD" "${gen[@]}" "${flags[@]}" || return 1
  cmake --build "$BUILD" --config Release --target "${TARGETS[@]}" -j "$(nproc)" || return 1
  echo "BUILD_SECONDS $(( $(date +%s) - tb ))"
  # the engine installer's build record, so points carry engine_version b<N> (cuda-sm<arch>)
  $PY -c "import json,sys; from servemark.engine_envs.llama_cpp import cmake_args, SDIST_NAME, SDIST_VERSION; json.dump({'sdist': f'{SDIST_NAME}=={SDIST_VERSION}', 'variant': '$variant', 'cmake_args': cmake_args($cuda, '$arch')}, open(sys.argv[1], 'w'))" "$BUILD/build-info.json"
}

# "PRESET<TAB>PATH" of a recipe's model: the name less "-synth" is the synth preset
model_of() {
  $PY -c "import sys,yaml; m=yaml.safe_load(open(sys.argv[1]))['model']; print(m['name'].removesuffix('-synth') + '\t' + m['path'])" "$1"
}

prepare() {
  log "host"
  memory_report > /dev/null
  { nvidia-smi; nvidia-smi topo -m; nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv; nproc; free -g; df -h /tmp; python3 --version; } > "$W/logs/host.txt" 2>&1
  $PY -m pip list --format=freeze > "$W/logs/image-pip-freeze.txt" 2>/dev/null
  env_setup || { log "python deps failed"; return 1; }
  $PY -c "import servemark, duckdb, pydantic, tokenizers, pynvml; print('servemark', servemark.__version__, 'duckdb', duckdb.__version__)" || return 1
  local bpid=""
  if [ ! -x "$BUILD/bin/llama-server" ] || [ ! -x "$BUILD/bin/llama-batched-bench" ]; then
    log "CUDA build of ${TARGETS[*]} (background)"
    build > "$W/logs/build.log" 2>&1 &
    bpid=$!
  fi
  local r preset path split=()
  for r in "$@"; do
    IFS=$'\t' read -r preset path < <(model_of "$JOB/$r")
    split=()
    if [[ "$path" =~ -00001-of-([0-9]{5})\.gguf$ ]]; then
      # a model larger than the disk: shards, the first on disk, the others linked into a RAM disk
      local n=$((10#${BASH_REMATCH[1]})) stem=${path%-00001-of-*} i
      ram_disk || return 1
      for ((i = 2; i <= n; i++)); do
        local shard; shard=$(printf '%s-%05d-of-%05d.gguf' "$stem" "$i" "$n")
        mkdir -p "$(dirname "$shard")"; [ -e "$shard" ] || ln -sfn "$W/ram/$(basename "$shard")" "$shard"
      done
      split=(--split-gb "${SPLIT_GB:-100}")
      [ -f "$path" ] && [ -f "$(readlink -f "$(printf '%s-%05d-of-%05d.gguf' "$stem" "$n" "$n")")" ] && continue
      path="$stem.gguf"
    fi
    if [[ "$path" == "$W/ram/"* ]]; then ram_disk || return 1; fi
    if [ ! -f "$path" ]; then
      log "synth $preset -> $path ${split[*]}"
      # one model that cannot be written (no room, say) leaves the others and the build going
      $PY -m servemark model synth "$preset" --format gguf --dtype f16 --threads "${SYNTH_THREADS:-8}" "${split[@]}" --out "$path" 2>&1 | tee -a "$W/logs/synth.log" || { log "synth $preset failed"; memory_report; continue; }
      cp "$W"/models/*.synth.json "$W/logs/" 2>/dev/null
    fi
  done
  if [ -n "$bpid" ]; then
    wait "$bpid"; local rc=$?
    grep BUILD_SECONDS "$W/logs/build.log"
    [ $rc -eq 0 ] || { log "build failed"; tail -40 "$W/logs/build.log"; return 1; }
  fi
  "$BUILD/bin/llama-server" --version 2>&1 | tail -2
}

memory_report() {
  { date -u; free -g; df -h "$W" "$W/ram" 2>/dev/null; cat /sys/fs/cgroup/memory.max /proc/self/cgroup 2>/dev/null; dmesg 2>/dev/null | grep -i -A3 "out of memory\|oom" | tail -20; } | tee -a "$W/logs/memory.txt"
}

ram_disk() {
  mountpoint -q "$W/ram" || [ -L "$W/ram" ] && return 0
  mkdir -p "$W/ram"
  if ! mount -t tmpfs -o "size=${RAM_GB:-200}g" tmpfs "$W/ram"; then
    log "no tmpfs mount; using /dev/shm"
    mount -o "remount,size=${RAM_GB:-200}g" /dev/shm; rmdir "$W/ram"; ln -sfn /dev/shm "$W/ram"
  fi
  df -h "$W/ram/"
}

# delete a recipe's model (its shards and what they link to): room for the next one
drop() {
  local preset path f; IFS=$'\t' read -r preset path < <(model_of "$JOB/$1")
  for f in "${path%-00001-of-*}"*.gguf; do rm -f "$(readlink -f "$f")" "$f"; done
  log "dropped ${path%-00001-of-*}*"; df -h "$W" | tail -1
}

name_of() { $PY -c "import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$1"; }

sweep() {
  local deadline=$1 recipe=$2 name; env_setup || return 1
  name=$(name_of "$JOB/$recipe")
  local db="$W/db/$name.duckdb" now="$W/db/$name.now.yaml" remain budget
  remain=$($PY "$JOB/remaining.py" "$db" "$JOB/$recipe" "$now")
  budget=$(( deadline - $(date +%s) ))
  log "sweep $name on GPUs ${CUDA_VISIBLE_DEVICES:-all}: concurrencies to measure: ${remain:-none}; budget ${budget} s"
  [ -n "$remain" ] && [ "$budget" -gt 30 ] || return 0
  $PY -m servemark.telemetry.record "$W/traces/$name-$(date +%s).json" 0.1 &
  local rpid=$!
  timeout --signal=INT --kill-after=20 "$budget" $PY -m servemark run "$now" --db "$db" --runs-dir "$W/runs/$name" 2>&1 | tee -a "$W/logs/$name-sweep.log"
  kill -TERM "$rpid"; wait "$rpid"
}

bench() {
  local deadline=$1 recipe=$2 name preset path i=0 blk=() line; env_setup || return 1
  name=$(name_of "$JOB/$recipe")
  IFS=$'\t' read -r preset path < <(model_of "$JOB/$recipe")
  run_block() {
    local budget=$(( deadline - $(date +%s) )) out="$W/bench/$name-$i.jsonl"
    if [ -s "$out" ]; then log "bench $name #$i: done before"; return 0; fi
    [ "$budget" -gt 30 ] || { log "bench $name #$i: no time left"; return 0; }
    log "bench $name #$i (budget ${budget} s): ${blk[*]:3}"
    printf '%s\n' "${blk[@]}" > "$W/bench/$name-$i.argv"
    timeout --kill-after=10 "$budget" "${blk[@]}" > "$out.part" 2> "$W/bench/$name-$i.log"
    local rc=$?
    cat "$out.part"; tail -3 "$W/bench/$name-$i.log"
    # a run cut short keeps its finished batch sizes under another name
    if [ $rc -eq 0 ]; then mv "$out.part" "$out"; else mv "$out.part" "$W/bench/$name-$i.partial.jsonl"; fi
  }
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -z "$line" ]; then run_block; blk=(); i=$((i + 1)); else blk+=("$line"); fi
  done < <($PY "$JOB/ceiling_argv.py" "$JOB/$recipe" "$path" "$BUILD/bin/llama-batched-bench")
  [ ${#blk[@]} -gt 0 ] && run_block
}

collect() {
  env_setup || return 1
  local db name
  mkdir -p "$W/export"
  for db in "$W"/db/*.duckdb; do
    [ -f "$db" ] || continue
    name=$(basename "$db" .duckdb); mkdir -p "$W/export/$name"
    $PY - "$db" "$W/export/$name" <<'EOF'
import sys, duckdb
db, out = sys.argv[1], sys.argv[2]
con = duckdb.connect(db, read_only=True)
con.execute(f"COPY (SELECT * FROM points ORDER BY tp, pp, isl, osl, conc) TO '{out}/points.parquet' (FORMAT parquet)")
con.execute(f"COPY (SELECT * FROM runs) TO '{out}/runs.parquet' (FORMAT parquet)")
for r in con.execute("SELECT tp, pp, isl, osl, conc, completed, num_requests, round(tput_per_gpu,1), round(output_tput_per_gpu,1), round(median_intvty,1), round(median_ttft*1e3,0), round(avg_power_w,0), round(joules_per_output_token,3), energy_source FROM points ORDER BY tp, pp, isl, osl, conc").fetchall():
    print(db.split('/')[-1], *r, sep="\t")
EOF
  done
  for t in "$W"/traces/*.json; do [ -f "$t" ] && gzip -kf "$t"; done
  tar czf "$OUT/results.tar.gz" -C "$W" export runs bench logs $(cd "$W" && ls traces/*.json.gz 2>/dev/null)
  ls -la "$OUT"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  build) env_setup && build ;;
  drop) shift; drop "$1" ;;
  sweep) shift; sweep "$@" ;;
  bench) shift; bench "$@" ;;
  collect) collect ;;
  ''|*[!0-9]*) echo "usage: device_run.sh TOTAL_S | prepare RECIPE... | sweep DEADLINE RECIPE | bench DEADLINE RECIPE | collect" >&2; exit 2 ;;
  *)
    T0=$(date +%s); RECIPE=${RECIPE:-recipe-h200.yaml}
    prepare "$RECIPE" || exit 1
    sweep $(( T0 + $1 - 45 )) "$RECIPE"
    collect ;;
esac
