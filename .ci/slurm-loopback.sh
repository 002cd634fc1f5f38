#!/bin/bash
# Installs and starts a single-node Slurm (slurmctld + slurmd + munge) bound to loopback only, for
# the Slurm tests. Debian 12 or similar, run as root; about 20 s from nothing (apt included), well
# under a second when installed.
#
# Start: eval "$(bash .ci/slurm-loopback.sh)"  -> exports SLURM_CONF and SLURM_TEST_PIDS
#        (the daemons' pids, munged's included when this script started it).
# Stop:  bash .ci/slurm-loopback.sh stop       -> kills $SLURM_TEST_PIDS and waits (10 s at most).
# Config, state and logs live in $SLURM_DIR (default target/slurm-ci), so they survive for the CI log.
set -euo pipefail
if [ "${1:-}" = stop ]; then
  pids=${SLURM_TEST_PIDS:-}
  [ -n "$pids" ] || exit 0
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  for _ in $(seq 100); do
    alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && exit 0
    sleep 0.1
  done
  echo "slurm daemons still alive after 10 s: $pids" >&2
  exit 1
fi
D=${SLURM_DIR:-$PWD/target/slurm-ci}
NODE=$(hostname -s)
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2
fi
# The host name must resolve to loopback, so that NoInAddrAny binds 127.0.0.1 only.
if [ "$(getent ahostsv4 "$NODE" | awk 'NR==1{print $1}')" != 127.0.0.1 ]; then
  echo "127.0.0.1 $NODE" >> /etc/hosts
fi
MUNGE_PID=
if [ ! -S /run/munge/munge.socket.2 ]; then
  rm -f /etc/munge/munge.key
  mungekey --create --keyfile=/etc/munge/munge.key --bits=1024 >&2
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  MUNGE_PID=$(cat /run/munge/munged.pid)
fi
munge -n | unmunge >/dev/null
mkdir -p "$D/state" "$D/spool/slurmd" "$D/log" "$D/run"
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
cat > "$D/slurm.conf" <<CONF
ClusterName=loopback
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/slurmd
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=5
InactiveLimit=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
echo "CgroupPlugin=autodetect" > "$D/cgroup.conf"
export SLURM_CONF=$D/slurm.conf
slurmctld
slurmd
for _ in $(seq 600); do
  [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && break
  sleep 0.1
done
[ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] || { echo "slurm node not idle after 60 s; logs in $D/log" >&2; exit 1; }
srun -n1 true
echo "export SLURM_CONF=$D/slurm.conf"
echo "export SLURM_TEST_PIDS=\"$(cat "$D/run/slurmd.pid") $(cat "$D/run/slurmctld.pid")${MUNGE_PID:+ $MUNGE_PID}\""
