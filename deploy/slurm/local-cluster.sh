#!/usr/bin/env bash
# A private single-node Slurm (Debian's slurm-wlm) for trying deploy/slurm and
# for `make test-slow`:
#   deploy/slurm/local-cluster.sh start DIR   # writes DIR/slurm.conf, starts munged (if needed), slurmctld, slurmd
#   export SLURM_CONF=DIR/slurm.conf          # then sbatch/squeue talk to it
#   deploy/slurm/local-cluster.sh stop DIR    # stops the daemons it started (by their pid files)
# Needs root (the daemons run as root here) and `apt-get install slurm-wlm`.
# Ports 16817/16818 unless KD_SLURM_PORT is set (the daemons use it and the next one).
set -euo pipefail
cmd=${1:?usage: local-cluster.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: local-cluster.sh start|stop DIR}" && cd "$2" && pwd)
port=${KD_SLURM_PORT:-16817}
case "$cmd" in
  start)
    for t in slurmctld slurmd munged munge; do
      command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "missing $t: apt-get install slurm-wlm" >&2; exit 2; }
    done
    host=$(hostname -s)
    mkdir -p "$dir/state" "$dir/spool"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=kdlocal
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldPort=$port
SlurmdPort=$((port + 1))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
      mkdir -p /run/munge
      [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey -c
      /usr/sbin/munged --force --pid-file="$dir/munged.pid" </dev/null >>"$dir/daemons.out" 2>&1
    fi
    # The daemons must not keep this script's stdout/stderr: a caller reading them would wait for ever.
    /usr/sbin/slurmctld -f "$dir/slurm.conf" </dev/null >>"$dir/daemons.out" 2>&1
    /usr/sbin/slurmd -f "$dir/slurm.conf" </dev/null >>"$dir/daemons.out" 2>&1
    for _ in $(seq 1 60); do
      if SLURM_CONF="$dir/slurm.conf" sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "slurm up: export SLURM_CONF=$dir/slurm.conf"; exit 0; fi
      sleep 1
    done
    echo "slurm did not come up within 60 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    exit 1
    ;;
  stop)
    for p in slurmd slurmctld munged; do
      [ -f "$dir/$p.pid" ] || continue
      pid=$(cat "$dir/$p.pid")
      kill "$pid" 2>/dev/null || continue
      # Wait up to 10 s, then kill.
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    done
    ;;
  *) echo "usage: local-cluster.sh start|stop DIR" >&2; exit 64 ;;
esac
