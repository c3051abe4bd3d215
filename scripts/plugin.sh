#!/usr/bin/env bash
# Make dovesnap a managed Docker plugin (`docker plugin`) from the dovesnap image (run as root;
# `sudo make plugin`). dockerd then starts dovesnap itself, before it restores containers.
#
#   sudo scripts/plugin.sh        create the plugin (disabled); then: docker plugin enable NAME
#
# Environment (or make variables: `sudo make plugin IMAGE=... PLUGIN_NAME=...`):
#   IMAGE              dovesnap:latest    the image whose files the plugin runs (build it first:
#                                         docker-compose build, or docker build -t dovesnap:latest .)
#   PLUGIN_NAME        dovesnap-plugin    the plugin's name (networks made with `-d NAME:latest`)
#   PLUGIN_ALIAS       dovesnap           the socket plugin it also serves: `-d dovesnap` keeps
#                                         working (see dovesnap/tools/managed_plugin.py for why)
#   NETNS_PROPAGATION  rslave             "" where / is not a shared mount (hosts without systemd)
#   FORCE              0                  1: replace a plugin of that name (it must be disabled)
#   DOCKER             docker             the docker command
#   PLUGIN_DIR         (empty)            only write the plugin (config.json, rootfs/) into this
#                                         new directory, for `docker plugin create NAME DIR` elsewhere
#
# Settings: `docker plugin set NAME STATUS_PORT=9402 ...` while disabled; `docker plugin inspect
# NAME` lists them. Mount sources too: `docker plugin set NAME faucet-config.source=/srv/faucet`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
IMAGE="${IMAGE:-dovesnap:latest}"
PLUGIN_NAME="${PLUGIN_NAME:-dovesnap-plugin}"
PLUGIN_ALIAS="${PLUGIN_ALIAS:-dovesnap}"
NETNS_PROPAGATION="${NETNS_PROPAGATION-rslave}"
FORCE="${FORCE:-0}"
DOCKER="${DOCKER:-docker}"

PLUGIN_DIR="${PLUGIN_DIR:-}"

need_root "sudo make plugin"
"${DOCKER}" image inspect "${IMAGE}" >/dev/null 2>&1 ||
    die "no image ${IMAGE}: build it first (docker-compose build, or docker build -t ${IMAGE} .)"
if [[ -n "${PLUGIN_DIR}" ]]; then
    [[ ! -e "${PLUGIN_DIR}" ]] || die "PLUGIN_DIR ${PLUGIN_DIR} exists; give a new directory"
elif "${DOCKER}" plugin inspect "${PLUGIN_NAME}" >/dev/null 2>&1; then
    [[ "${FORCE}" == 1 ]] || die "a plugin ${PLUGIN_NAME} exists; FORCE=1 replaces it (disable it first)"
    say "removing the old plugin ${PLUGIN_NAME}"
    "${DOCKER}" plugin rm "${PLUGIN_NAME}" || die "cannot remove ${PLUGIN_NAME}: docker plugin disable it first"
fi

# The config, from dovesnap's own settings (config.py); this checkout's code, no venv needed.
if [[ -x "${VENV}/bin/python" ]]; then py="${VENV}/bin/python"; else py="${PYTHON:-python3}"; fi
if [[ -n "${PLUGIN_DIR}" ]]; then
    mkdir -p "${PLUGIN_DIR}"
    work="${PLUGIN_DIR}"
else
    work="$(mktemp -d /var/tmp/dovesnap-plugin.XXXXXX)"
fi
container=""
cleanup() {
    [[ -n "${container}" ]] && "${DOCKER}" rm -f "${container}" >/dev/null 2>&1
    [[ -n "${PLUGIN_DIR}" ]] || rm -rf -- "${work}"
}
trap cleanup EXIT
(cd "${REPO}" && "${py}" -m dovesnap.tools.managed_plugin --name "${PLUGIN_NAME}" \
    --alias "${PLUGIN_ALIAS}" --netns-propagation "${NETNS_PROPAGATION}") >"${work}/config.json"

say "unpacking ${IMAGE}"
mkdir "${work}/rootfs"
container="$("${DOCKER}" create "${IMAGE}")"
"${DOCKER}" export "${container}" | tar -C "${work}/rootfs" -x
if [[ -n "${PLUGIN_DIR}" ]]; then
    say "plugin written to ${PLUGIN_DIR}: docker plugin create ${PLUGIN_NAME} ${PLUGIN_DIR}"
    exit 0
fi
say "creating plugin ${PLUGIN_NAME} (serves -d ${PLUGIN_ALIAS} and -d ${PLUGIN_NAME}:latest)"
"${DOCKER}" plugin create "${PLUGIN_NAME}" "${work}" >/dev/null
say "done: docker plugin enable ${PLUGIN_NAME}"
