#!/bin/sh
# Entry point of the dovesnap image: `dovesnap ARGS...` (default `serve`).
#
# dovesnap serve sets per-interface sysctls of the host's network namespace
# (/proc/sys/net/...), which Docker mounts read-only in any container that is not privileged.
# docker-compose.yml grants SYS_ADMIN instead of `privileged`, so make /proc/sys writable here;
# a privileged container has it writable already and this does nothing.
#
# `dovesnap serve` prepares the FAUCET config dir (FAUCET_PREFIX, mounted at /etc/faucet) as it
# does on a host: FAUCET's untouched example files there are kept aside as NAME.example and
# dovesnap's starter faucet.yaml/gauge.yaml written; an operator's files are left as they are.
set -eu
if [ "${1:-}" = serve ] &&
    awk '$5 == "/proc/sys" { split($6, o, ","); if (o[1] == "ro") found = 1 } END { exit !found }' \
        /proc/self/mountinfo; then
    mount -o remount,bind,rw /proc/sys ||
        echo "dovesnap: /proc/sys is read-only and cannot be remounted (needs SYS_ADMIN, unconfined AppArmor): interface sysctls will fail" >&2
fi
exec dovesnap "$@"
