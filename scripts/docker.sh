#!/usr/bin/env bash
# Make sure a Docker daemon answers, or stop the one these scripts started.
#
#   scripts/docker.sh start   start dockerd unless one already answers `docker info`
#   scripts/docker.sh stop    stop dockerd, but only if `start` started it
#   scripts/docker.sh status  say whether dockerd answers and who started it
#
# With systemd as PID 1, `start` uses `systemctl start docker`. Without it (containers, CI) it
# runs dockerd in the background: log $DOVESNAP_LOG_DIR/dockerd.log, pidfile
# $DOVESNAP_RUN_DIR/dockerd.pid, marker $DOVESNAP_RUN_DIR/dockerd.started-by-dovesnap.
#
# Environment: DOVESNAP_RUN_DIR (/run/dovesnap), DOVESNAP_LOG_DIR (/var/log/dovesnap),
# DOCKER_START_TIMEOUT (60 s), DOCKER_STOP_TIMEOUT (60 s).
set -euo pipefail

RUN_DIR="${DOVESNAP_RUN_DIR:-/run/dovesnap}"
LOG_DIR="${DOVESNAP_LOG_DIR:-/var/log/dovesnap}"
PIDFILE="${RUN_DIR}/dockerd.pid"
MARKER="${RUN_DIR}/dockerd.started-by-dovesnap"
LOGFILE="${LOG_DIR}/dockerd.log"
START_TIMEOUT="${DOCKER_START_TIMEOUT:-60}"
STOP_TIMEOUT="${DOCKER_STOP_TIMEOUT:-60}"

say() { printf 'docker: %s\n' "$*"; }
die() {
    printf 'docker: ERROR: %s\n' "$*" >&2
    exit 1
}

docker_answers() {
    timeout 10 docker info >/dev/null 2>&1
}

systemd_is_init() {
    [[ -d /run/systemd/system && "$(cat /proc/1/comm 2>/dev/null || true)" == "systemd" ]]
}

pid_is() {
    # $1: pid, $2: expected command name. True when that pid is alive and runs $2.
    local pid="$1" want="$2" comm
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
    comm="$(cat "/proc/${pid}/comm" 2>/dev/null)" || return 1
    [[ "${comm}" == "${want}" ]]
}

read_pidfile() {
    local pid=""
    if [[ -r "${PIDFILE}" ]]; then
        read -r pid <"${PIDFILE}" || true
    fi
    printf '%s' "${pid}"
}

log_tail() {
    if [[ -r "${LOGFILE}" ]]; then
        echo "---- last lines of ${LOGFILE} ----" >&2
        tail -n 30 "${LOGFILE}" >&2 || true
        echo "----" >&2
    fi
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
    mkdir -p "${RUN_DIR}" "${LOG_DIR}"

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
    elif pid="$(pgrep -x -o dockerd 2>/dev/null)"; then
        # Someone else's dockerd that does not answer (yet): do not start a second one.
        say "a dockerd (pid ${pid}) not started by dovesnap is running but not answering; waiting"
        wait_for_docker "${pid}" || die "that dockerd did not answer within ${START_TIMEOUT}s"
        say "dockerd answers"
        return 0
    else
        say "starting dockerd in the background (log ${LOGFILE})"
        # setsid: own session, so a Ctrl-C in the terminal that ran `make up` does not reach it.
        nohup setsid dockerd </dev/null >>"${LOGFILE}" 2>&1 &
        pid="$!"
        echo "${pid}" >"${PIDFILE}"
        echo "nohup ${pid}" >"${MARKER}"
    fi
    if ! wait_for_docker "${pid}"; then
        log_tail
        die "dockerd did not answer within ${START_TIMEOUT}s"
    fi
    say "dockerd answers (pid ${pid})"
}

wait_gone() {
    # $1: pid, $2: command name, $3: seconds. True when the process is gone in time.
    local deadline=$((SECONDS + $3))
    while pid_is "$1" "$2"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.5
    done
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
    if ! wait_gone "${pid}" dockerd "${STOP_TIMEOUT}"; then
        say "dockerd still running after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        wait_gone "${pid}" dockerd 10 || die "dockerd (pid ${pid}) does not die"
    fi
    for child in ${children[@]+"${children[@]}"}; do
        if ! wait_gone "${child}" containerd 15; then
            say "containerd (pid ${child}) spawned by that dockerd outlived it; stopping it"
            kill -TERM "${child}" 2>/dev/null || true
            wait_gone "${child}" containerd 15 || kill -KILL "${child}" 2>/dev/null || true
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
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
