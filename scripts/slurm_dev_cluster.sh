#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests/slurm.rs and for trying `sprs submit`.
#
#   scripts/slurm_dev_cluster.sh up     install (Debian packages), configure and start; idempotent
#   scripts/slurm_dev_cluster.sh down   stop the daemons (the packages and the state folder stay)
#   scripts/slurm_dev_cluster.sh status
#
# Needs root and Debian's slurmctld, slurmd, slurm-client and munge (installed by `up` when
# missing). Works without systemd: munged, slurmctld and slurmd are started by hand. State and
# spool live under $SPRS_SLURM_DIR (default /var/tmp/sprs-slurm); the configuration is written to
# /etc/slurm/slurm.conf, where the Slurm commands look for it. There is no slurmdbd: `sacct` does
# not work, `squeue` and `scontrol show job` do.
set -euo pipefail

state=${SPRS_SLURM_DIR:-/var/tmp/sprs-slurm}
conf=/etc/slurm/slurm.conf

say() { echo "slurm_dev_cluster: $*" >&2; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        say "must run as root (it installs packages and starts daemons)"
        exit 1
    fi
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return
    fi
    say "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

configure() {
    mkdir -p "$state"/{ctld,spool,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    local host node
    host=$(hostname -s)
    # `slurmd -C` prints this machine's node line (CPUs, sockets, memory); the second line is uptime.
    node=$(slurmd -C | head -n 1)
    cat >"$conf" <<EOF
# Written by scripts/slurm_dev_cluster.sh: a one-node cluster for tests.
ClusterName=sprs-dev
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=defer_batch=0
MaxArraySize=1001
KillWait=10
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

running() { pgrep -x "$1" >/dev/null; }

up() {
    need_root
    install
    configure
    if ! running munged; then
        runuser -u munge -- /usr/sbin/munged
    fi
    if ! running slurmctld; then
        slurmctld -i
    fi
    if ! running slurmd; then
        slurmd
    fi
    local host
    host=$(hostname -s)
    for _ in $(seq 1 60); do
        if scontrol ping 2>/dev/null | grep -q UP && sinfo -h -n "$host" -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            say "up: $(sinfo -h -o '%P %D %T %c CPUs %m MB')"
            return 0
        fi
        # A node that was down when slurmctld last ran comes back with this.
        scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
        sleep 0.5
    done
    say "the cluster did not come up; logs in $state/log"
    tail -n 20 "$state"/log/*.log >&2 || true
    exit 1
}

down() {
    need_root
    for daemon in slurmd slurmctld; do
        if running "$daemon"; then
            pkill -x "$daemon" || true
        fi
    done
    for _ in $(seq 1 40); do
        running slurmd || running slurmctld || break
        sleep 0.25
    done
    say "down"
}

status() {
    for daemon in munged slurmctld slurmd; do
        if running "$daemon"; then echo "$daemon: running"; else echo "$daemon: stopped"; fi
    done
    scontrol ping 2>/dev/null || true
    sinfo 2>/dev/null || true
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
