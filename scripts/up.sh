#!/usr/bin/env bash
# Bring dovesnap up on this host (run as root; `make up`).
#
# Installs what is missing (scripts/deps.sh), starts `dovesnap serve` in the background and makes
# sure dockerd answers (scripts/docker.sh start). When dockerd is not running yet, dovesnap starts
# first: dockerd gives up on `--restart always` containers on dovesnap networks if the plugin
# socket is not there when it starts.
#
# Extra arguments go to `dovesnap serve` (e.g. scripts/up.sh --debug). Daemon settings can also
# come from the environment, which is passed through: MIRROR_BRIDGE_OUT, MIRROR_BRIDGE_IN,
# FAUCET_CONFIG_DIR, DEFAULT_OFCONTROLLERS, STATUS_PORT, STATUS_AUTH_IPS, EXTERNAL_FAUCET, ...
# (note that sudo drops the caller's environment: use `make up MIRROR_BRIDGE_OUT=eno99`).
#
# Environment for this script: VENV (<repo>/.venv), DOVESNAP_RUN_DIR, DOVESNAP_LOG_DIR,
# DOVESNAP_PLUGIN_SOCKET, FAUCET_OF_PORT (defaults: `dovesnap config`), UP_TIMEOUT (90 s).
# shellcheck disable=SC2154 # DOVESNAP_*, FAUCET_OF_PORT, ... are set by load_config
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export VENV
UP_TIMEOUT="${UP_TIMEOUT:-90}"

need_root "make up"

plugin_answers() {
    "${VENV}/bin/python" -m dovesnap.tools.service_ready --timeout 0 "${DOVESNAP_PLUGIN_SOCKET}" \
        2>/dev/null
}

faucet_listens() {
    ss -Hltn "sport = :${FAUCET_OF_PORT}" 2>/dev/null | grep -q .
}

# The settings `dovesnap serve "$@"` will run with. Without any Python yet (a fresh host), no
# dovesnap can be running: deps.sh installs it first.
if load_config "$@" 2>/dev/null && pid="$(make_up_pid)"; then
    say "dovesnap is already running (pid ${pid}); 'make down' stops it"
    exit 0
fi

"${REPO}/scripts/deps.sh"
load_config "$@" || die "cannot read dovesnap's settings (dovesnap config --shell $*)"
PIDFILE="${DOVESNAP_RUN_DIR}/dovesnap.pid"
LOGFILE="${DOVESNAP_LOG_DIR}/dovesnap.log"

mkdir -p "${DOVESNAP_RUN_DIR}" "${DOVESNAP_LOG_DIR}"

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
    die "Docker did not come up; dovesnap (pid ${pid}) is running, 'make down' stops it"
fi

wait_faucet=$((!EXTERNAL_FAUCET))
if ((wait_faucet)); then
    say "waiting up to ${UP_TIMEOUT}s for the plugin socket and FAUCET (TCP ${FAUCET_OF_PORT})"
else
    say "waiting up to ${UP_TIMEOUT}s for the plugin socket (external FAUCET)"
fi
deadline=$((SECONDS + UP_TIMEOUT))
plugin_ok=0
faucet_ok=$((!wait_faucet))
while :; do
    if ! kill -0 "${pid}" 2>/dev/null; then
        rm -f "${PIDFILE}"
        log_tail "${LOGFILE}" 40
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
        log_tail "${LOGFILE}" 40
        ((plugin_ok)) || say "plugin socket ${DOVESNAP_PLUGIN_SOCKET} does not answer Plugin.Activate"
        ((faucet_ok)) || say "nothing listens on TCP ${FAUCET_OF_PORT} (FAUCET); see ${DOVESNAP_LOG_DIR}/faucet.log"
        die "dovesnap (pid ${pid}) not ready after ${UP_TIMEOUT}s; it is still running, 'make down' stops it"
    fi
    sleep 1
done

say "dovesnap is up (pid ${pid}); log ${LOGFILE}"
driver="$(basename "${DOVESNAP_PLUGIN_SOCKET}" .sock)"
cat <<EOF
ready: docker network create mynet -d ${driver} --internal -o ovs.bridge.dpid=0x1
       docker run -d --net=mynet --name=testcon busybox sleep 1h
       dovesnap status            (or: curl http://127.0.0.1:${STATUS_PORT}/networks)
EOF
