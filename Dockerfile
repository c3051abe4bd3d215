# dovesnap as a container: the Docker network plugin, its CLI, FAUCET and Gauge (PyPI), and the
# Open vSwitch userspace tools so that it can use the host's OVS or run its own.
#
#   docker-compose build                  # or: docker build -t dovesnap:latest .
#
# The container must share the host's network and PID namespaces and see /run/docker/plugins,
# the Docker socket and /var/run/openvswitch: docker-compose.yml sets all of that up.
#
# BASE_IMAGE: any Debian 12 (bookworm) image; the default comes from Docker Hub, the test
# suite builds its own with debootstrap. docker/certs/*.crt are extra CA certificates to trust
# while building, for networks that inspect TLS on the way to PyPI (empty by default).
ARG BASE_IMAGE=debian:bookworm-slim

# ---- build: the venv, compiled where FAUCET's dependencies need it (pytricia has no wheel)
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates gcc libc6-dev python3 python3-dev python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY docker/certs/ /tmp/extra-ca/
RUN for cert in /tmp/extra-ca/*.crt; do \
        [ -f "$cert" ] && cp "$cert" /usr/local/share/ca-certificates/; \
    done; \
    update-ca-certificates >/dev/null
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Dependencies first, in their own layer: a change to dovesnap's code does not rebuild them.
COPY pyproject.toml README.md /src/
RUN python3 -m venv /opt/dovesnap \
    && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' >/src/requirements.txt \
    && /opt/dovesnap/bin/pip install -r /src/requirements.txt
COPY dovesnap /src/dovesnap
RUN /opt/dovesnap/bin/pip install --no-deps /src && /opt/dovesnap/bin/dovesnap --version

# ---- the image: runtime packages and the venv, no compiler
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/dovesnap/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# No package script may try to start a daemon while the image is built.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        busybox ca-certificates ethtool iproute2 iptables openvswitch-switch procps \
        python3 udhcpc \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY --from=build /opt/dovesnap /opt/dovesnap
# Building FAUCET from its sdist as root copied FAUCET's example config into the build stage's
# /etc/faucet; only /opt/dovesnap is carried over, so the image has none (checked here).
# `dovesnap serve` sets aside any untouched FAUCET example it finds in the mounted config dir
# (as NAME.example) and writes its starter config there.
RUN dovesnap --version && ovs-vsctl --version >/dev/null && udhcpc --help 2>&1 | head -n 1 \
    && test ! -e /etc/faucet/faucet.yaml

# FAUCET's config and dovesnap's own OVS database and logs: mount these to keep them.
VOLUME ["/etc/faucet", "/var/lib/dovesnap", "/var/log/dovesnap"]

COPY docker/entrypoint.sh /usr/local/bin/dovesnap-entrypoint
ENTRYPOINT ["dovesnap-entrypoint"]
CMD ["serve"]
