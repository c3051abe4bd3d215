#!/usr/bin/env bash
# Bring dovesnap up on this host (run as root; `sudo make up`).
#
# Installs what is missing (scripts/deps.sh), starts `dovesnap serve` in the background and makes
# sure dockerd answers (scripts/docker.sh start). When dockerd is not running yet, dovesnap starts
# first: dockerd gives up on `--restart always` containers on dovesnap networks if the plugin
# socket is not there when it starts.
#
# Extra arguments go to `dovesnap serve` (e.g. scripts/up.sh --debug). Daemon settings can also
# come from the environment, which is passed through: MIRROR_BRIDGE_OUT, MIRROR_BRIDGE_IN,
# FAUCET_CONFIG_DIR, DEFAULT_OFCONTROLLERS, STATUS_PORT, STATUS_AUTH_IPS, EXTERNAL_FAUCET, ...
# (note that sudo drops the caller's environment: use `sudo make up MIRROR_BRIDGE_OUT=eno99`).
#
# Environment for this script: VENV (<repo>/.venv), DOVESNAP_RUN_DIR (/run/dovesnap),
# DOVESNAP_LOG_DIR (/var/log/dovesnap), DOVESNAP_PLUGIN_SOCKET, UP_TIMEOUT (90 s).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VENV="${VENV:-${REPO}/.venv}"
RUN_DIR="${DOVESNAP_RUN_DIR:-/run/dovesnap}"
LOG_DIR="${DOVESNAP_LOG_DIR:-/var/log/dovesnap}"
PIDFILE="${RUN_DIR}/dovesnap.pid"
LOGFILE="${LOG_DIR}/dovesnap.log"
PLUGIN_SOCKET="${DOVESNAP_PLUGIN_SOCKET:-/run/docker/plugins/dovesnap.sock}"
UP_TIMEOUT="${UP_TIMEOUT:-90}"
FAUCET_PORT=6653

say() { printf 'up: %s\n' "$*"; }
die() {
    printf 'up: ERROR: %s\n' "$*" >&2
    exit 1
}

((EUID == 0)) || die "run as root: sudo make up"

dovesnap_pid() {
    # Prints the pid from the pidfile when that process is alive and is dovesnap.
    local pid="" cmdline
    if [[ -r "${PIDFILE}" ]]; then
        read -r pid <"${PIDFILE}" || true
    fi
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
    cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/${pid}/cmdline")" || return 1
    [[ "${cmdline}" == *"dovesnap serve"* ]] || return 1
    printf '%s' "${pid}"
}

log_tail() {
    echo "---- last lines of ${LOGFILE} ----" >&2
    tail -n 40 "${LOGFILE}" >&2 2>/dev/null || true
    echo "----" >&2
}

plugin_answers() {
    local reply
    reply="$(curl -s --max-time 3 --unix-socket "${PLUGIN_SOCKET}" -X POST http://x/Plugin.Activate 2>/dev/null)" ||
        return 1
    [[ "${reply}" == *NetworkDriver* ]]
}

faucet_listens() {
    ss -Hltn "sport = :${FAUCET_PORT}" 2>/dev/null | grep -q .
}

external_faucet() {
    case "${EXTERNAL_FAUCET:-}" in 1 | true | yes) return 0 ;; esac
    local arg
    for arg in "$@"; do
        [[ "${arg}" == "--external-faucet" || "${arg}" == "--external_faucet" ]] && return 0
    done
    return 1
}

if pid="$(dovesnap_pid)"; then
    say "dovesnap is already running (pid ${pid}); 'sudo make down' stops it"
    exit 0
fi

"${REPO}/scripts/deps.sh"

mkdir -p "${RUN_DIR}" "${LOG_DIR}"

docker_was_up=0
if timeout 10 docker info >/dev/null 2>&1; then
    docker_was_up=1
fi

say "starting dovesnap serve (log ${LOGFILE})"
{
    echo
    echo "==== $(date -Is) scripts/up.sh: dovesnap serve $*"
} >>"${LOGFILE}"
# Run from / so the daemon never holds the checkout as its working directory.
(cd / && exec setsid "${VENV}/bin/dovesnap" serve "$@" </dev/null >>"${LOGFILE}" 2>&1) &
pid="$!"
echo "${pid}" >"${PIDFILE}"

if ((!docker_was_up)) && ! "${REPO}/scripts/docker.sh" start; then
    die "Docker did not come up; dovesnap (pid ${pid}) is running, 'sudo make down' stops it"
fi

wait_faucet=1
if external_faucet "$@"; then
    wait_faucet=0
fi

if ((wait_faucet)); then
    say "waiting up to ${UP_TIMEOUT}s for the plugin socket and FAUCET (TCP ${FAUCET_PORT})"
else
    say "waiting up to ${UP_TIMEOUT}s for the plugin socket (external FAUCET)"
fi
deadline=$((SECONDS + UP_TIMEOUT))
plugin_ok=0
faucet_ok=$((!wait_faucet))
while :; do
    if ! kill -0 "${pid}" 2>/dev/null; then
        rm -f "${PIDFILE}"
        log_tail
        die "dovesnap serve exited; see ${LOGFILE}"
    fi
    if ((!plugin_ok)) && plugin_answers; then
        plugin_ok=1
    fi
    if ((!faucet_ok)) && faucet_listens; then
        faucet_ok=1
    fi
    if ((plugin_ok && faucet_ok)); then
        break
    fi
    if ((SECONDS >= deadline)); then
        log_tail
        ((plugin_ok)) || say "plugin socket ${PLUGIN_SOCKET} does not answer Plugin.Activate"
        ((faucet_ok)) || say "nothing listens on TCP ${FAUCET_PORT} (FAUCET); see ${LOG_DIR}/faucet.log"
        die "dovesnap (pid ${pid}) not ready after ${UP_TIMEOUT}s; it is still running, 'sudo make down' stops it"
    fi
    sleep 1
done

say "dovesnap is up (pid ${pid}); log ${LOGFILE}"
cat <<'EOF'
ready: docker network create mynet -d dovesnap --internal -o ovs.bridge.dpid=0x1
       docker run -d --net=mynet --name=testcon busybox sleep 1h
       dovesnap status            (or: curl http://127.0.0.1:9401/networks)
EOF
