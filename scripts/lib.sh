#!/usr/bin/env bash
# Shared by every script here, installers included: `. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.
# Defines functions and REPO, VENV, SCRIPT_NAME, MIN_PYTHON; runs nothing when sourced.
#
#   say/die             messages prefixed with the script's name ("up: ...", "up: ERROR: ...")
#   load_config [ARGS]  dovesnap's settings as shell variables (DOVESNAP_RUN_DIR, ...)
#   make_up_pid         the pid of the dovesnap `make up` started, when it is running
#   refuse_if_up WHAT   die when that dovesnap is running ("run 'make down' first")
#   systemd_is_init     systemd is PID 1
#   python_ok PYTHON    PYTHON is at least MIN_PYTHON
#
# Run as a command it calls one of them, messages prefixed with NAME:
#   bash scripts/lib.sh NAME FUNCTION [ARGS...]     e.g. `lib.sh clean refuse_if_up "make clean"`

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-${REPO}/.venv}"
SCRIPT_NAME="$(basename "$0" .sh)"
MIN_PYTHON=3.11 # pyproject.toml's requires-python

say() { printf '%s: %s\n' "${SCRIPT_NAME}" "$*"; }
die() {
    printf '%s: ERROR: %s\n' "${SCRIPT_NAME}" "$*" >&2
    exit 1
}

need_root() {
    # $1: how to run it, e.g. "make up".
    ((EUID == 0)) || die "run as root, or with sudo: $1"
}

# ---------------------------------------------------------------- settings

# shellcheck disable=SC2120 # ARGS are optional
load_config() {
    # Sets the variables `dovesnap config --shell ARGS...` prints: every default path, port and
    # URL of dovesnap/config.py, with the environment (and ARGS, `dovesnap serve` flags) applied
    # as `dovesnap serve` applies them. Asked through the venv's python (a staged venv's
    # scripts cannot run yet); without a venv, or with one missing packages, this checkout's
    # config.py answers (it needs nothing but Python's standard library). Fails when no Python
    # can answer, or ARGS are wrong.
    local text
    if [[ -x "${VENV}/bin/python" ]] &&
        text="$("${VENV}/bin/python" -m dovesnap.cli config --shell "$@" 2>/dev/null)"; then
        :
    else
        text="$(cd "${REPO}" && "${PYTHON:-python3}" -m dovesnap.config --shell "$@")" || return 1
    fi
    eval "${text}"
}

# ---------------------------------------------------------------- processes

is_dovesnap_serve() {
    # $1: pid. True when that process is alive and runs `dovesnap serve`.
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    local cmdline
    cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
    [[ "${cmdline}" == *"dovesnap serve"* ]]
}

make_up_pid() {
    # Prints the pid in `make up`'s pidfile when that process is alive and is dovesnap.
    # Needs load_config first (DOVESNAP_RUN_DIR).
    local pid="" pidfile="${DOVESNAP_RUN_DIR:?load_config first}/dovesnap.pid"
    if [[ -r "${pidfile}" ]]; then
        read -r pid <"${pidfile}" || true
    fi
    is_dovesnap_serve "${pid}" || return 1
    printf '%s' "${pid}"
}

refuse_if_up() {
    # $1: the command to run afterwards (e.g. "make test"). Dies when the `make up`
    # dovesnap runs; a host where no Python can read the settings has none running.
    local pid
    # shellcheck disable=SC2119 # the defaults, not $1
    load_config 2>/dev/null || return 0
    if pid="$(make_up_pid)"; then
        die "dovesnap (pid ${pid}) started by 'make up' is running; run 'make down' first, then '$1'"
    fi
}

wait_gone() {
    # wait_gone SECONDS COMMAND...: poll COMMAND (e.g. `is_dovesnap_serve PID`) until it fails;
    # false when it still succeeds after SECONDS.
    local deadline=$((SECONDS + $1))
    shift
    while "$@"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.5
    done
    return 0
}

log_tail() {
    # log_tail FILE LINES: the end of a log, on stderr.
    if [[ -r "$1" ]]; then
        echo "---- last lines of $1 ----" >&2
        tail -n "$2" "$1" >&2 || true
        echo "----" >&2
    fi
}

# ---------------------------------------------------------------- the host

systemd_is_init() {
    [[ -d /run/systemd/system && "$(cat /proc/1/comm 2>/dev/null || true)" == "systemd" ]]
}

python_ok() {
    # $1: interpreter. True when it runs and is at least MIN_PYTHON.
    "$1" -c "import sys; sys.exit(0 if sys.version_info >= (${MIN_PYTHON/./, }) else 1)" \
        >/dev/null 2>&1
}

python_version() {
    "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || echo "unknown"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    (($# >= 2)) || die "usage: lib.sh NAME FUNCTION [ARGS...]"
    SCRIPT_NAME="$1"
    shift
    "$@"
fi

# The script's header comment (every "#" line after the shebang) as its --help text.
print_header_help() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"
}

# die unless each named variable holds an absolute path without white space.
require_absolute_paths() {
    local var value
    for var in "$@"; do
        value="${!var}"
        [[ "${value}" == /* ]] || die "${var} must be an absolute path, not '${value}'"
        [[ "${value}" != *[[:space:]]* ]] || die "${var} must not contain spaces: '${value}'"
    done
}
