#!/usr/bin/env bash
# Install dovesnap as a systemd service (run as root; `make install`).
#
#   scripts/install.sh          install: venv in PREFIX, the unit, the settings file; enable + start
#   scripts/install.sh --force  upgrade an existing install in place (settings file kept)
#
# Options:
#   --force         replace an existing install (an upgrade); without it an install is refused
#   --no-start      install (and enable) but do not start or restart the service
#   --prefix DIR    where the venv goes (PREFIX, default /opt/dovesnap)
#   -h, --help      this text
# Environment:
#   PREFIX      /opt/dovesnap        the venv: PREFIX/bin/dovesnap, PREFIX/share/dovesnap/...
#   SYSCONFDIR  /etc/dovesnap        service.env: the daemon settings (written once, then kept)
#   UNITDIR     /etc/systemd/system  dovesnap.service
#   DESTDIR     (empty)              stage everything under this root instead of /; nothing is
#                                    enabled or started, no root needed (packaging, tests)
#   PYTHON      /usr/bin/python3 if it is 3.11 or newer, else python3
#
# The venv holds a normal (not editable) install of this checkout, so the checkout can go
# away afterwards. On hosts where systemd is PID 1 the unit is enabled and (re)started;
# elsewhere the script says so and prints how to start dovesnap by hand.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PREFIX="${PREFIX:-/opt/dovesnap}"
SYSCONFDIR="${SYSCONFDIR:-/etc/dovesnap}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
DESTDIR="${DESTDIR:-}"
UNIT_NAME=dovesnap.service

force=0
start=1
while (($#)); do
    case "$1" in
        --force) force=1 ;;
        --no-start) start=0 ;;
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
case "${PREFIX}" in
    "" | /usr | /usr/local | /opt | /etc | /var | /home | /root)
        die "PREFIX=${PREFIX:-/} is a shared directory; give dovesnap its own, e.g. /opt/dovesnap" ;;
esac
if [[ -n "${DESTDIR}" ]]; then
    [[ "${DESTDIR}" == /* ]] || die "DESTDIR must be an absolute path, not '${DESTDIR}'"
    DESTDIR="${DESTDIR%/}"
elif ((EUID != 0)); then
    die "run as root, or with sudo (scripts/install.sh), or stage into a directory with DESTDIR=..."
fi

venv="${DESTDIR}${PREFIX}"
share="${venv}/share/dovesnap"
info="${share}/install-info"
unit="${DESTDIR}${UNITDIR}/${UNIT_NAME}"
envfile="${DESTDIR}${SYSCONFDIR}/service.env"

# ---------------------------------------------------------------- an install already there?

installed_version() {
    sed -n 's/^version=//p' "${info}" 2>/dev/null || true
}

upgrade=0
if [[ -f "${info}" || -x "${venv}/bin/dovesnap" || -f "${unit}" ]]; then
    old="$(installed_version)"
    if ((!force)); then
        die "dovesnap ${old:-(unknown version)} is already installed (${venv}, ${unit}); to upgrade it in place run: $0 --force"
    fi
    upgrade=1
    say "upgrading dovesnap ${old:-(unknown version)} in place (--force)"
elif [[ -e "${venv}" ]] && [[ -n "$(ls -A "${venv}" 2>/dev/null)" ]]; then
    die "${venv} exists and is not a dovesnap install; move it away or choose another PREFIX"
fi

# ---------------------------------------------------------------- python and the venv

if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=python3
    if [[ -x /usr/bin/python3 ]] && python_ok /usr/bin/python3; then
        PYTHON=/usr/bin/python3
    fi
fi
command -v "${PYTHON}" >/dev/null 2>&1 || die "${PYTHON} not found; install python3 (>= ${MIN_PYTHON}) or set PYTHON=..."
python_ok "${PYTHON}" || die "dovesnap needs Python >= ${MIN_PYTHON} with the venv module; ${PYTHON} is $(python_version "${PYTHON}") (on Debian: apt-get install python3 python3-venv), or set PYTHON=..."

if [[ -x "${venv}/bin/python" ]] && python_ok "${venv}/bin/python"; then
    say "reusing the venv ${venv}"
else
    say "creating the venv ${venv} with $(command -v "${PYTHON}")"
    mkdir -p "${venv}"
    "${PYTHON}" -m venv --clear "${venv}" ||
        die "python -m venv failed; on Debian/Ubuntu: apt-get install python3-venv"
fi

say "pip install ${REPO} (dependencies from PyPI the first time: this takes a minute or two)"
"${venv}/bin/python" -m pip install --disable-pip-version-check -q --upgrade "${REPO}" ||
    die "pip install failed (see above); nothing was changed outside ${venv}"
version="$("${venv}/bin/python" -I -c 'import dovesnap; print(dovesnap.__version__)')"

if [[ -n "${DESTDIR}" ]]; then
    # The venv's scripts name their interpreter by absolute path: make it the final one.
    for script in "${venv}"/bin/*; do
        [[ -f "${script}" && ! -L "${script}" ]] || continue
        if head -c 256 "${script}" | head -n 1 | grep -qF "#!${venv}/bin/"; then
            sed -i "1s|^#!${venv}/bin/|#!${PREFIX}/bin/|" "${script}"
        fi
    done
fi

# ---------------------------------------------------------------- unit, settings, records

render() {
    # render TEMPLATE: print it with @PREFIX@ and @SYSCONFDIR@ filled in.
    local text
    text="$(<"$1")"
    text="${text//@PREFIX@/${PREFIX}}"
    text="${text//@SYSCONFDIR@/${SYSCONFDIR}}"
    printf '%s\n' "${text}"
}

write_file() {
    # write_file DEST MODE < content: replace DEST atomically.
    local dest="$1" mode="$2" tmp
    mkdir -p "$(dirname "${dest}")"
    tmp="$(mktemp "${dest}.XXXXXX")"
    cat >"${tmp}"
    chmod "${mode}" "${tmp}"
    mv -f "${tmp}" "${dest}"
}

mkdir -p "${share}"
render "${REPO}/packaging/service.env" | write_file "${share}/service.env.example" 0644
install -m 0644 "${REPO}/README.md" "${share}/README.md"
# The uninstaller, with the shell library it sources, outlives the checkout.
install -m 0755 "${REPO}/scripts/uninstall.sh" "${share}/uninstall.sh"
install -m 0644 "${REPO}/scripts/lib.sh" "${share}/lib.sh"

render "${REPO}/packaging/dovesnap.service.in" | write_file "${unit}" 0644
say "wrote ${unit}"

if [[ -f "${envfile}" ]]; then
    say "kept your settings in ${envfile} (new settings, if any: ${PREFIX}/share/dovesnap/service.env.example)"
else
    render "${REPO}/packaging/service.env" | write_file "${envfile}" 0644
    say "wrote ${envfile}: dovesnap's settings, all at their defaults"
fi

if [[ -z "${DESTDIR}" ]]; then
    # Built from its sdist as root, FAUCET copies its example config (DPs sw1/sw2 on dp_ids
    # 0x1/0x2, VLAN office, a router) into /etc/faucet. Keep it aside as NAME.example and write
    # dovesnap's starter config, in the config dir the service uses; an operator's files stay.
    # shellcheck source=/dev/null # the settings file this script wrote (or kept)
    (set -a && . "${envfile}" && set +a && exec "${venv}/bin/dovesnap" init-config) |
        sed "s/^/${SCRIPT_NAME}: /" ||
        die "dovesnap init-config failed (see above); move FAUCET's example config out of the way by hand"
fi

commit="$(git -C "${REPO}" rev-parse --short HEAD 2>/dev/null || true)"
write_file "${info}" 0644 <<EOF
version=${version}
source=${REPO}
commit=${commit}
installed=$(date -u +%Y-%m-%dT%H:%M:%SZ)
prefix=${PREFIX}
sysconfdir=${SYSCONFDIR}
unit=${UNITDIR}/${UNIT_NAME}
EOF
say "dovesnap ${version} installed in ${PREFIX}"

# ---------------------------------------------------------------- enable and start

if [[ -n "${DESTDIR}" ]]; then
    say "staged under DESTDIR=${DESTDIR}: not enabling or starting anything"
    exit 0
fi

if systemd_is_init; then
    systemctl daemon-reload
    systemctl enable "${UNIT_NAME}"
    if ((start)); then
        # restart: an upgrade must replace the running daemon; a first install just starts.
        systemctl restart "${UNIT_NAME}"
        say "dovesnap is running: systemctl status dovesnap; journalctl -u dovesnap"
    else
        say "enabled, not started (--no-start): systemctl start dovesnap"
    fi
    exit 0
fi

pid1="$(cat /proc/1/comm 2>/dev/null || echo unknown)"
cat <<EOF
install: systemd is not running on this host (PID 1 is '${pid1}'), so ${UNIT_NAME} was
install: installed but not enabled or started. Start dovesnap by hand, as root, before dockerd
install: if dockerd is not running yet (it gives up on --restart containers whose network
install: plugin does not answer when it starts):

  sh -c 'set -a; . ${SYSCONFDIR}/service.env; set +a; exec ${PREFIX}/bin/dovesnap serve \$DOVESNAP_ARGS' >>/var/log/dovesnap.log 2>&1 &
  sh -c 'set -a; . ${SYSCONFDIR}/service.env; set +a; exec ${PREFIX}/bin/python -m dovesnap.tools.service_ready --timeout 120' && echo dovesnap is ready
EOF
if ((upgrade)); then
    say "a dovesnap started by hand keeps running the old code until you restart it"
fi
