#!/usr/bin/env bash
# Uninstall the dovesnap service that install.sh put in place (run as root; `make uninstall`).
# install.sh keeps a copy of this script (and lib.sh) in PREFIX/share/dovesnap/.
#
#   scripts/uninstall.sh          stop and disable the service, remove the unit and the venv;
#                                      keep the settings in SYSCONFDIR/service.env
#   scripts/uninstall.sh --purge  remove the settings file too
#
# Options:
#   --purge         also remove SYSCONFDIR/service.env (and SYSCONFDIR, when empty)
#   --force         remove the venv even though a dovesnap started by hand from it is running
#   --prefix DIR    the venv to remove (PREFIX, default /opt/dovesnap)
#   -h, --help      this text
# Environment: PREFIX, SYSCONFDIR, UNITDIR and DESTDIR as for install.sh.
#
# Never touched: Docker networks and containers, OVS bridges, the FAUCET config dir,
# dovesnap's state and log dirs (their defaults: `dovesnap config`).
# The venv is only removed when it carries install.sh's record (PREFIX/share/dovesnap/install-info).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PREFIX="${PREFIX:-/opt/dovesnap}"
SYSCONFDIR="${SYSCONFDIR:-/etc/dovesnap}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
DESTDIR="${DESTDIR:-}"
UNIT_NAME=dovesnap.service

purge=0
force=0
while (($#)); do
    case "$1" in
        --purge) purge=1 ;;
        --force) force=1 ;;
        --prefix)
            (($# >= 2)) || die "--prefix needs a directory"
            PREFIX="$2"
            shift
            ;;
        --prefix=*) PREFIX="${1#--prefix=}" ;;
        -h | --help)
            print_header_help "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

require_absolute_paths PREFIX SYSCONFDIR UNITDIR
PREFIX="${PREFIX%/}"
if [[ -n "${DESTDIR}" ]]; then
    [[ "${DESTDIR}" == /* ]] || die "DESTDIR must be an absolute path, not '${DESTDIR}'"
    DESTDIR="${DESTDIR%/}"
elif ((EUID != 0)); then
    die "run as root, or with sudo (scripts/uninstall.sh), or give the staging root with DESTDIR=..."
fi

venv="${DESTDIR}${PREFIX}"
info="${venv}/share/dovesnap/install-info"
unit="${DESTDIR}${UNITDIR}/${UNIT_NAME}"
envfile="${DESTDIR}${SYSCONFDIR}/service.env"

if [[ -e "${venv}" && ! -f "${info}" ]]; then
    die "${venv} has no install record (share/dovesnap/install-info): not removing a directory install.sh did not make"
fi

systemd_running() {
    [[ -z "${DESTDIR}" ]] && systemd_is_init
}

hand_started_pids() {
    # Processes running this venv's dovesnap serve (started by hand, not by systemd).
    local dir cmdline
    for dir in /proc/[0-9]*; do
        cmdline="$(tr '\0' ' ' <"${dir}/cmdline" 2>/dev/null || true)"
        if [[ "${cmdline}" == "${venv}/bin/python "*"${venv}/bin/dovesnap serve"* ||
            "${cmdline}" == "${venv}/bin/dovesnap serve"* ]]; then
            printf '%s ' "${dir#/proc/}"
        fi
    done
}

if systemd_running && [[ -f "${unit}" ]]; then
    say "stopping and disabling ${UNIT_NAME}"
    systemctl disable --now "${UNIT_NAME}" || say "systemctl disable --now failed; carrying on"
fi

if [[ -z "${DESTDIR}" && -f "${info}" ]]; then
    pids="$(hand_started_pids)"
    if [[ -n "${pids}" ]] && ((!force)); then
        die "dovesnap from ${venv} is still running (pid ${pids% }); stop it first (kill ${pids% }), or re-run with --force"
    fi
fi

# What stays, named as the installed dovesnap's settings name it (read before it goes).
kept="Docker networks, OVS bridges"
# shellcheck disable=SC2119,SC2154 # the defaults; FAUCET_CONFIG_DIR, ... are set by load_config
if VENV="${venv}" load_config 2>/dev/null; then
    kept+=", ${FAUCET_CONFIG_DIR}, ${DOVESNAP_STATE_DIR}, ${DOVESNAP_LOG_DIR}"
else
    kept+=", the FAUCET config dir, dovesnap's state and log dirs"
fi

removed=0
if [[ -f "${unit}" ]]; then
    rm -f -- "${unit}"
    say "removed ${unit}"
    removed=1
fi
if systemd_running; then
    systemctl daemon-reload
fi
if [[ -f "${info}" ]]; then
    rm -rf -- "${venv}"
    say "removed ${venv}"
    removed=1
fi

if [[ -f "${envfile}" ]]; then
    if ((purge)); then
        rm -f -- "${envfile}"
        rmdir -- "${DESTDIR}${SYSCONFDIR}" 2>/dev/null || true
        say "removed ${envfile} (--purge)"
        removed=1
    else
        say "kept your settings in ${envfile} (remove them with --purge)"
    fi
fi

if ((removed)); then
    say "dovesnap uninstalled; left in place: ${kept}"
else
    say "dovesnap is not installed (nothing at ${venv} or ${unit})"
fi
