#!/usr/bin/env bash
# Stop what scripts/up.sh started (run as root; `sudo make down`).
#
# SIGTERM to dovesnap (it stops its own FAUCET, Gauge and OVS), SIGKILL after DOWN_TIMEOUT
# (20 s); then scripts/docker.sh stop, which stops dockerd only if dovesnap's scripts started it.
# Docker networks, OVS bridges and the FAUCET config are left as they are, so the next
# `make up` carries on where this one stopped.
#
# Environment: DOVESNAP_RUN_DIR (/run/dovesnap), DOWN_TIMEOUT (20 s).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${DOVESNAP_RUN_DIR:-/run/dovesnap}"
PIDFILE="${RUN_DIR}/dovesnap.pid"
DOWN_TIMEOUT="${DOWN_TIMEOUT:-20}"

say() { printf 'down: %s\n' "$*"; }
die() {
    printf 'down: ERROR: %s\n' "$*" >&2
    exit 1
}

((EUID == 0)) || die "run as root: sudo make down"

is_dovesnap() {
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    local cmdline
    cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
    [[ "${cmdline}" == *"dovesnap serve"* ]]
}

wait_gone() {
    local deadline=$((SECONDS + $2))
    while is_dovesnap "$1"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.5
    done
}

pid=""
if [[ -r "${PIDFILE}" ]]; then
    read -r pid <"${PIDFILE}" || true
fi

if is_dovesnap "${pid}"; then
    say "stopping dovesnap (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    if ! wait_gone "${pid}" "${DOWN_TIMEOUT}"; then
        say "dovesnap still running after ${DOWN_TIMEOUT}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        wait_gone "${pid}" 10 || die "dovesnap (pid ${pid}) does not die"
    fi
    say "dovesnap stopped"
else
    say "dovesnap is not running (no live ${PIDFILE})"
fi
rm -f "${PIDFILE}"

"${REPO}/scripts/docker.sh" stop
