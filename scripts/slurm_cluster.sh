#!/usr/bin/env bash
# A real two-node Slurm cluster on this one machine, for the tests: start | stop | status | env.
#
# One slurmctld and two slurmd (`-N n1`, `-N n2`, ports 17001/17002) share this host; munged runs
# as user munge with its own key and socket. Everything (config, key, spool, logs, pid files)
# lives under $SERVEMARK_SLURM_DIR (default /tmp/servemark-slurm), never in /etc, so the host's
# own Slurm or munge, if any, is untouched; clients find the cluster through SLURM_CONF
# (`eval "$(scripts/slurm_cluster.sh env)"`). Only processes whose pid files are under that folder
# are ever stopped. Idempotent: `start` on a running cluster and `stop` on a stopped one do nothing.
# Needs root (slurmd runs jobs as their user; munged must start as munge): otherwise it says so
# and exits 0 without a cluster, and the Slurm tests skip with that reason.
set -euo pipefail

DIR=${SERVEMARK_SLURM_DIR:-/tmp/servemark-slurm}
CTLD_PORT=${SERVEMARK_SLURM_PORT:-16817}
NODE_PORTS=(17001 17002)
NODES=(n1 n2)
CPUS=${SERVEMARK_SLURM_CPUS:-8}   # per node, declared (config_overrides): array tasks share the cores
CONF=$DIR/slurm.conf
MUNGE_SOCKET=$DIR/munge-run/munge.socket.2

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "note: the test Slurm cluster needs root (slurmd, munged as user munge); not started, Slurm tests will skip" >&2
    exit 0
  fi
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  if ! command -v apt-get >/dev/null; then
    echo "note: slurm-wlm/munge missing and no apt-get here; Slurm tests will skip" >&2
    exit 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

pid_alive() {  # pid file -> 0 when that process runs
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

write_config() {
  local host; host=$(hostname)
  mkdir -p "$DIR/state" "$DIR/log" "$DIR/run" "$DIR/spool"
  cat >"$CONF" <<EOF
# written by scripts/slurm_cluster.sh: a two-node test cluster on one host
ClusterName=servemark
SlurmctldHost=$host
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdSpoolDir=$DIR/spool/%n
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
JobRequeue=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=${NODES[0]} NodeHostname=$host Port=${NODE_PORTS[0]} CPUs=$CPUS RealMemory=4000 State=UNKNOWN
NodeName=${NODES[1]} NodeHostname=$host Port=${NODE_PORTS[1]} CPUs=$CPUS RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=${NODES[0]},${NODES[1]} Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if pid_alive "$DIR/munge-run/munged.pid"; then return; fi
  mkdir -p "$DIR/munge"
  mkdir -p "$DIR/munge-run"
  chown munge:munge "$DIR/munge" "$DIR/munge-run"; chmod 0700 "$DIR/munge"; chmod 0755 "$DIR/munge-run"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    mungekey -c -k "$DIR/munge/munge.key" >/dev/null
    chown munge:munge "$DIR/munge/munge.key"; chmod 0400 "$DIR/munge/munge.key"
  fi
  # munged checks its folders' permissions; /tmp is sticky and world-writable, which it accepts
  runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge-run/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
}

start() {
  need_root
  install_packages
  mkdir -p "$DIR"; chmod 0755 "$DIR"
  start_munge
  write_config
  if ! pid_alive "$DIR/run/slurmctld.pid"; then
    SLURM_CONF=$CONF slurmctld -f "$CONF"
  fi
  for i in 0 1; do
    if ! pid_alive "$DIR/run/slurmd-${NODES[$i]}.pid"; then
      mkdir -p "$DIR/spool/${NODES[$i]}"
      SLURM_CONF=$CONF slurmd -f "$CONF" -N "${NODES[$i]}"
    fi
  done
  # wait until both nodes answer and are schedulable
  for _ in $(seq 1 60); do
    if SLURM_CONF=$CONF sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 ~ /^(idle|mix|alloc)$/' | wc -l | grep -qx 2; then
      echo "slurm cluster up: nodes ${NODES[*]} (SLURM_CONF=$CONF)"
      return
    fi
    SLURM_CONF=$CONF scontrol update NodeName="${NODES[0]},${NODES[1]}" State=RESUME >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm cluster did not come up; logs in $DIR/log" >&2
  SLURM_CONF=$CONF sinfo -N >&2 || true
  tail -5 "$DIR"/log/*.log >&2 || true
  exit 1
}

stop_pidfile() {  # pid file -> stop that process (only ours: the pid comes from our folder)
  local f=$1 pid
  pid_alive "$f" || { rm -f "$f"; return; }
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop() {
  [ -d "$DIR" ] || return 0
  if [ -s "$CONF" ] && pid_alive "$DIR/run/slurmctld.pid"; then
    SLURM_CONF=$CONF scancel --quiet --partition=debug 2>/dev/null || true
    sleep 1
  fi
  for n in "${NODES[@]}"; do stop_pidfile "$DIR/run/slurmd-$n.pid"; done
  stop_pidfile "$DIR/run/slurmctld.pid"
  stop_pidfile "$DIR/munge-run/munged.pid"
  echo "slurm cluster stopped"
}

status() {
  local up=0
  pid_alive "$DIR/munge-run/munged.pid" && echo "munged    running" || { echo "munged    stopped"; up=1; }
  pid_alive "$DIR/run/slurmctld.pid" && echo "slurmctld running" || { echo "slurmctld stopped"; up=1; }
  for n in "${NODES[@]}"; do
    pid_alive "$DIR/run/slurmd-$n.pid" && echo "slurmd $n running" || { echo "slurmd $n stopped"; up=1; }
  done
  [ $up = 0 ] && SLURM_CONF=$CONF sinfo -N
  return $up
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
