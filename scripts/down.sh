#!/usr/bin/env bash
# Stop what scripts/up.sh started (run as root; `make down`).
#
# SIGTERM to dovesnap (it stops its own FAUCET, Gauge and OVS), SIGKILL after DOWN_TIMEOUT
# (20 s); then scripts/docker.sh stop, which stops dockerd only if dovesnap's scripts started it.
# Docker networks, OVS bridges and the FAUCET config are left as they are, so the next
# `make up` carries on where this one stopped.
#
# Environment: DOVESNAP_RUN_DIR (default: `dovesnap config`), DOWN_TIMEOUT (20 s).
# shellcheck disable=SC2154 # DOVESNAP_RUN_DIR is set by load_config
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DOWN_TIMEOUT="${DOWN_TIMEOUT:-20}"

need_root "make down"
load_config || die "cannot read dovesnap's settings (dovesnap config --shell)"
PIDFILE="${DOVESNAP_RUN_DIR}/dovesnap.pid"

if pid="$(make_up_pid)"; then
    say "stopping dovesnap (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    if ! wait_gone "${DOWN_TIMEOUT}" is_dovesnap_serve "${pid}"; then
        say "dovesnap still running after ${DOWN_TIMEOUT}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        wait_gone 10 is_dovesnap_serve "${pid}" || die "dovesnap (pid ${pid}) does not die"
    fi
    say "dovesnap stopped"
else
    say "dovesnap is not running (no live ${PIDFILE})"
fi
rm -f "${PIDFILE}"

"${REPO}/scripts/docker.sh" stop
