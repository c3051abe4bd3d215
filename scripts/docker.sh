#!/usr/bin/env bash
# Make sure a Docker daemon answers, or stop the one these scripts started.
#
#   scripts/docker.sh start   start dockerd unless one already answers `docker info`
#   scripts/docker.sh stop    stop dockerd, but only if `start` started it
#   scripts/docker.sh status  say whether dockerd answers and who started it
#   scripts/docker.sh host-pid  print the pid of the host's dockerd (exit 1 if it is not running)
#
# With systemd as PID 1, `start` uses `systemctl start docker`. Without it (containers, CI) it
# runs dockerd in the background: log $DOVESNAP_LOG_DIR/dockerd.log, pidfile
# $DOVESNAP_RUN_DIR/dockerd.pid, marker $DOVESNAP_RUN_DIR/dockerd.started-by-dovesnap.
#
# "The host's dockerd" is the one whose pid is in its default pidfile (/var/run/docker.pid,
# DOCKER_PIDFILE to change it), never just any process named dockerd: other engines may run
# beside it with their own pidfile and socket (tests/engines runs newer Docker engines so).
#
# Environment: DOVESNAP_RUN_DIR, DOVESNAP_LOG_DIR (defaults: `dovesnap config`),
# DOCKER_START_TIMEOUT (60 s), DOCKER_STOP_TIMEOUT (60 s), DOCKER_PIDFILE (/var/run/docker.pid).
# shellcheck disable=SC2154 # DOVESNAP_RUN_DIR and DOVESNAP_LOG_DIR are set by load_config
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_config || die "cannot read dovesnap's settings (dovesnap config --shell)"
PIDFILE="${DOVESNAP_RUN_DIR}/dockerd.pid"
MARKER="${DOVESNAP_RUN_DIR}/dockerd.started-by-dovesnap"
LOGFILE="${DOVESNAP_LOG_DIR}/dockerd.log"
START_TIMEOUT="${DOCKER_START_TIMEOUT:-60}"
HOST_PIDFILE="${DOCKER_PIDFILE:-/var/run/docker.pid}"
STOP_TIMEOUT="${DOCKER_STOP_TIMEOUT:-60}"

docker_answers() {
    timeout 10 docker info >/dev/null 2>&1
}

pid_is() {
    # $1: pid, $2: expected command name. True when that pid is alive and runs $2.
    local pid="$1" want="$2" comm
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
    comm="$(cat "/proc/${pid}/comm" 2>/dev/null)" || return 1
    [[ "${comm}" == "${want}" ]]
}

read_pidfile() {
    # $1: the pidfile (default: ours). Prints the pid it holds, or nothing.
    local file="${1:-${PIDFILE}}" pid=""
    if [[ -r "${file}" ]]; then
        read -r pid <"${file}" || true
    fi
    printf '%s' "${pid}"
}

host_dockerd_pid() {
    # The pid of the host's dockerd (the one writing the default pidfile), if it is running.
    local pid
    pid="$(read_pidfile "${HOST_PIDFILE}")"
    pid_is "${pid}" dockerd && printf '%s' "${pid}"
}

wait_for_docker() {
    local deadline=$((SECONDS + START_TIMEOUT))
    while ! docker_answers; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        # kill -0, not pid_is: right after the fork the child may not have exec'd dockerd yet.
        if [[ -n "${1:-}" ]] && ! kill -0 "$1" 2>/dev/null; then
            say "dockerd (pid $1) exited"
            return 1
        fi
        sleep 1
    done
}

cmd_start() {
    command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/deps.sh)"
    if docker_answers; then
        say "dockerd already answers"
        return 0
    fi
    ((EUID == 0)) || die "starting dockerd needs root"
    mkdir -p "${DOVESNAP_RUN_DIR}" "${DOVESNAP_LOG_DIR}"

    if systemd_is_init; then
        say "starting docker with systemctl"
        systemctl start docker
        echo systemd >"${MARKER}"
        wait_for_docker || die "dockerd did not answer within ${START_TIMEOUT}s (see: journalctl -u docker)"
        say "dockerd answers"
        return 0
    fi

    command -v dockerd >/dev/null 2>&1 || die "dockerd not found (run scripts/deps.sh)"
    local pid
    pid="$(read_pidfile)"
    if pid_is "${pid}" dockerd; then
        say "dockerd (pid ${pid}) started earlier is still coming up; waiting"
    elif pid="$(host_dockerd_pid)"; then
        # The host's dockerd, started by someone else, does not answer (yet): do not start a
        # second one. A dockerd with another pidfile (another engine beside it) does not count.
        say "a dockerd (pid ${pid}) not started by dovesnap is running but not answering; waiting"
        wait_for_docker "${pid}" || die "that dockerd did not answer within ${START_TIMEOUT}s"
        say "dockerd answers"
        return 0
    else
        say "starting dockerd in the background (log ${LOGFILE})"
        # setsid: own session, so a Ctrl-C in the terminal that ran `make up` does not reach it.
        nohup setsid dockerd --pidfile "${HOST_PIDFILE}" </dev/null >>"${LOGFILE}" 2>&1 &
        pid="$!"
        echo "${pid}" >"${PIDFILE}"
        echo "nohup ${pid}" >"${MARKER}"
    fi
    if ! wait_for_docker "${pid}"; then
        log_tail "${LOGFILE}" 30
        die "dockerd did not answer within ${START_TIMEOUT}s"
    fi
    say "dockerd answers (pid ${pid})"
}

cmd_stop() {
    if [[ ! -e "${MARKER}" ]]; then
        say "dockerd was not started by dovesnap's scripts; leaving it alone"
        return 0
    fi
    ((EUID == 0)) || die "stopping dockerd needs root"
    local how
    read -r how _ <"${MARKER}" || how=""

    if [[ "${how}" == "systemd" ]]; then
        say "stopping docker with systemctl"
        systemctl stop docker docker.socket || true
        rm -f "${MARKER}"
        return 0
    fi

    local pid
    pid="$(read_pidfile)"
    if ! pid_is "${pid}" dockerd; then
        say "dockerd started by dovesnap is no longer running"
        rm -f "${MARKER}" "${PIDFILE}"
        return 0
    fi

    # Docker's own containerd (started by dockerd as its child) normally exits with it;
    # remember it so a straggler can be cleaned up. A system containerd is never touched.
    local -a children=()
    local child
    while read -r child; do
        [[ -n "${child}" ]] && children+=("${child}")
    done < <(pgrep -P "${pid}" -x containerd 2>/dev/null || true)

    say "stopping dockerd (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    if ! wait_gone "${STOP_TIMEOUT}" pid_is "${pid}" dockerd; then
        say "dockerd still running after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        wait_gone 10 pid_is "${pid}" dockerd || die "dockerd (pid ${pid}) does not die"
    fi
    for child in ${children[@]+"${children[@]}"}; do
        if ! wait_gone 15 pid_is "${child}" containerd; then
            say "containerd (pid ${child}) spawned by that dockerd outlived it; stopping it"
            kill -TERM "${child}" 2>/dev/null || true
            wait_gone 15 pid_is "${child}" containerd || kill -KILL "${child}" 2>/dev/null || true
        fi
    done
    rm -f "${MARKER}" "${PIDFILE}"
    say "dockerd stopped"
}

cmd_status() {
    local pid
    pid="$(read_pidfile)"
    if docker_answers; then
        say "dockerd answers"
    else
        say "dockerd does not answer"
    fi
    if [[ -e "${MARKER}" ]]; then
        if pid_is "${pid}" dockerd; then
            say "started by dovesnap (pid ${pid})"
        else
            say "started by dovesnap ($(cat "${MARKER}"))"
        fi
    else
        say "not started by dovesnap"
    fi
    docker_answers
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    host-pid) host_dockerd_pid ;;
    *)
        echo "usage: $0 start|stop|status|host-pid" >&2
        exit 2
        ;;
esac
