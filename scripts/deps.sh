#!/usr/bin/env bash
# Install what dovesnap needs on a Debian/Ubuntu host, then the Python venv.
#
#   scripts/deps.sh              runtime packages + venv with `pip install -e .`
#   scripts/deps.sh --test       also test-only packages, and `pip install -e '.[test]'`
#   scripts/deps.sh --venv-only  skip apt entirely (no root needed), only the venv
#
# Idempotent: packages are checked with dpkg first and apt-get runs only when something is
# missing; pip runs only when the venv does not already satisfy pyproject.toml
# (FORCE_PIP=1 runs it anyway).
#
# Environment: VENV (default <repo>/.venv), PYTHON (default python3), FORCE_PIP.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PYTHON="${PYTHON:-python3}"
FORCE_PIP="${FORCE_PIP:-0}"

with_test=0
with_apt=1
for arg in "$@"; do
    case "${arg}" in
        --test) with_test=1 ;;
        --venv-only) with_apt=0 ;;
        -h | --help)
            sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "deps.sh: unknown argument: ${arg}" >&2
            exit 2
            ;;
    esac
done

pkg_installed() {
    # True when dpkg knows the package as fully installed.
    local status
    status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
    [[ "${status}" == "install ok installed" ]]
}

# ---------------------------------------------------------------- system packages

install_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        die "this script installs packages on Debian/Ubuntu only (no dpkg/apt-get found); install by hand: docker, openvswitch-switch, iptables, ethtool, iproute2, procps, python3 (>= 3.11) with venv, udhcpc"
    fi

    local -a wanted=(openvswitch-switch iptables ethtool iproute2 procps python3-venv udhcpc ca-certificates graphviz fonts-dejavu-core)
    if ((with_test)); then
        wanted+=(busybox-static tcpdump psmisc curl chromium debootstrap docker-compose prometheus dnsmasq-base)
    else
        # curl: the README's examples read the status port with it.
        wanted+=(curl)
    fi

    local -a missing=()
    local pkg
    # Docker may come from Docker Inc's packages (docker-ce), which conflict with docker.io:
    # only ask for docker.io when no Docker engine is installed at all.
    if ! pkg_installed docker.io && ! pkg_installed docker-ce && ! command -v dockerd >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
    for pkg in "${wanted[@]}"; do
        pkg_installed "${pkg}" || missing+=("${pkg}")
    done

    if ((${#missing[@]} == 0)); then
        say "system packages present"
        return 0
    fi
    if ((EUID != 0)); then
        die "missing packages: ${missing[*]}; run as root, or with sudo (make install-deps), or install them by hand"
    fi

    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Without systemd as PID 1 (containers, CI) do not let package scripts start daemons
    # (OVS, dockerd): dovesnap starts its own OVS and scripts/docker.sh starts dockerd.
    local policy=/usr/sbin/policy-rc.d
    local own_policy=0
    if ! systemd_is_init && [[ ! -e "${policy}" ]]; then
        printf '#!/bin/sh\n# temporary, written by dovesnap scripts/deps.sh\nexit 101\n' >"${policy}"
        chmod 0755 "${policy}"
        own_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    if ((own_policy)); then
        rm -f "${policy}"
        trap - EXIT
    fi
    say "system packages installed"
}

# ---------------------------------------------------------------- python + venv

ensure_venv() {
    if [[ -x "${VENV}/bin/python" ]] && "${VENV}/bin/python" -c 'import sys' >/dev/null 2>&1; then
        if ! python_ok "${VENV}/bin/python"; then
            die "the venv ${VENV} uses Python $(python_version "${VENV}/bin/python"); dovesnap needs >= ${MIN_PYTHON}. Remove it (make clean) and re-run with PYTHON=/path/to/python3.11"
        fi
        say "venv ${VENV} present (Python $(python_version "${VENV}/bin/python"))"
        return 0
    fi

    command -v "${PYTHON}" >/dev/null 2>&1 ||
        die "${PYTHON} not found; install Python >= ${MIN_PYTHON} or set PYTHON=/path/to/python3"
    if ! python_ok "${PYTHON}"; then
        die "dovesnap needs Python >= ${MIN_PYTHON}, but ${PYTHON} is $(python_version "${PYTHON}"). Install a newer python3 (e.g. python3.11 and python3.11-venv) and re-run with PYTHON=python3.11"
    fi

    local -a venv_args=()
    if [[ -f "${VENV}/pyvenv.cfg" ]]; then
        # A venv whose interpreter is gone (e.g. Python upgraded): rebuild it in place.
        say "venv ${VENV} is broken; recreating it"
        venv_args+=(--clear)
    fi
    say "creating venv ${VENV} with $(command -v "${PYTHON}") ($(python_version "${PYTHON}"))"
    "${PYTHON}" -m venv ${venv_args[@]+"${venv_args[@]}"} "${VENV}" ||
        die "python -m venv failed; on Debian/Ubuntu install python3-venv (scripts/deps.sh does that when run as root)"
}

# Prints nothing and exits 0 when the venv already satisfies pyproject.toml (dependencies, and the
# test extra when asked for) and dovesnap is installed in editable mode from this checkout.
SATISFIED_PY='
import importlib.metadata as md
import os
import sys
import tomllib

repo, with_test = sys.argv[1], sys.argv[2] == "1"
try:
    from pip._vendor.packaging.requirements import Requirement
except ImportError:
    sys.exit("pip packaging helpers unavailable")
with open(os.path.join(repo, "pyproject.toml"), "rb") as fh:
    project = tomllib.load(fh)["project"]
reqs = list(project.get("dependencies", []))
if with_test:
    reqs += project.get("optional-dependencies", {}).get("test", [])
problems = []
for text in reqs:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        problems.append(f"{req.name} missing")
        continue
    if req.specifier and not req.specifier.contains(have, prereleases=True):
        problems.append(f"{req.name} {have} does not match {req.specifier}")
try:
    import dovesnap
    where = os.path.realpath(os.path.dirname(dovesnap.__file__))
    if where != os.path.realpath(os.path.join(repo, "dovesnap")):
        problems.append(f"dovesnap imported from {where}, not this checkout")
except ImportError:
    problems.append("dovesnap not installed")
if problems:
    sys.exit("; ".join(problems))
'

ensure_python_deps() {
    local spec="."
    ((with_test)) && spec=".[test]"
    local why=""
    if [[ "${FORCE_PIP}" == "1" ]]; then
        why="FORCE_PIP=1"
    elif [[ ! -x "${VENV}/bin/dovesnap" ]]; then
        why="dovesnap console script missing"
    elif ! why="$(cd / && "${VENV}/bin/python" -I -c "${SATISFIED_PY}" "${REPO}" "${with_test}" 2>&1)"; then
        why="${why:-check failed}"
    else
        say "python packages already satisfied (${spec}); skipping pip (FORCE_PIP=1 to force)"
        return 0
    fi
    say "pip install -e '${spec}' (${why})"
    (cd "${REPO}" && "${VENV}/bin/python" -m pip install --disable-pip-version-check -q -e "${spec}")
    say "python packages installed"
    if ((EUID == 0)); then
        # Built from its sdist as root, FAUCET copies its example config (DPs sw1/sw2 on dp_ids
        # 0x1/0x2, VLAN office, a router) into /etc/faucet. Keep it aside as NAME.example and
        # write dovesnap's starter config; an operator's files are left as they are.
        "${VENV}/bin/dovesnap" init-config | sed "s/^/${SCRIPT_NAME}: /" ||
            die "dovesnap init-config failed (see above); move FAUCET's example config out of the FAUCET config dir by hand"
    fi
}

if ((with_apt)); then
    install_packages
fi
ensure_venv
ensure_python_deps
