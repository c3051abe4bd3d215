"""Attach latency: from ``docker run -d`` to the new container's first answered ping of a peer.

Measured on Docker's own ``bridge`` driver and on dovesnap (plain, and with preallocated ports)
in the same run, interleaved, and printed as medians and ratios against the bridge driver.

    .venv/bin/python bench/attach.py [--rounds 7]

It starts its own dovesnap (instance 9: plugin ``dovesnap-t9``, its own FAUCET ports), so it
runs beside a ``make up`` dovesnap. The clock is CLOCK_BOOTTIME, which the container reads too
(``/proc/uptime``), so no polling from the host enters the figure (10 ms resolution).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DOVESNAP_TEST_INSTANCE", os.environ.get("DOVESNAP_BENCH_INSTANCE", "9"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.rig import (
    DOCKER,
    DRIVER,
    IMAGE,
    Daemon,
    Docker,
    docker_answers,
    ensure_image,
    run,
    unique,
    wait_until,
)

# Prints the container's uptime stamp the moment the first echo reply arrives.
PROBE = (
    'ping -i 0.02 -w 60 "$PEER" | while read line; do '
    'case "$line" in *"bytes from"*) cat /proc/uptime; break;; esac; done; exec sleep 3600'
)


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def attach_once(docker: Docker, network: str, peer_ip: str) -> float:
    name = unique("bench")
    docker.containers.append(name)
    started = boottime()
    run([DOCKER, "run", "-d", "--name", name, "--net", network, "-e", f"PEER={peer_ip}",
         IMAGE, "sh", "-c", PROBE])

    def stamp() -> float | None:
        out = run([DOCKER, "logs", name], check=False).stdout.split()
        return float(out[0]) if out else None

    answered: float = wait_until(stamp, 90, 0.1, f"first ping from {name}")
    docker.remove_container(name)
    return answered - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0 or not docker_answers():
        print("run as root with dockerd up (make up starts it)", file=sys.stderr)
        return 1
    ensure_image()
    daemon = Daemon(Path(tempfile.mkdtemp(prefix="dovesnap-bench-")))
    docker = Docker()
    daemon.start()
    results: dict[str, list[float]] = {"bridge": [], "dovesnap": [], "dovesnap+prealloc": []}
    try:
        bridge_net = unique("benchbr")
        run([DOCKER, "network", "create", "--internal", bridge_net])
        docker.networks.append(bridge_net)
        plain = docker.network("ovs.bridge.dpid=0x7e9001").args
        prealloc = docker.network("ovs.bridge.dpid=0x7e9002",
                                  f"ovs.bridge.preallocate_ports={args.rounds + 4}").args
        nets = {"bridge": bridge_net, "dovesnap": plain, "dovesnap+prealloc": prealloc}
        peers = {}
        for label, net in nets.items():
            peer = docker.run_container(net)
            peers[label] = docker.ip(peer)
        for label in ("dovesnap", "dovesnap+prealloc"):
            wait_until(lambda n=nets[label]: daemon.dp(n), 10, what="DP written")
        # One warm-up each (image cache, FAUCET's first connection), then measured rounds.
        for label, net in nets.items():
            attach_once(docker, net, peers[label])
        for _ in range(args.rounds):
            for label, net in nets.items():
                results[label].append(attach_once(docker, net, peers[label]))
    finally:
        docker.cleanup()
        daemon.stop()
    base = statistics.median(results["bridge"])
    print(f"attach latency, {args.rounds} rounds, driver {DRIVER} (median, seconds):")
    for label, values in results.items():
        median = statistics.median(values)
        print(f"  {label:<18} {median:6.3f}  x{median / base:5.2f} of bridge"
              f"  (min {min(values):.3f}, max {max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
