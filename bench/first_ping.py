"""First ping and attach time as containers pile up on one network.

Containers are started one by one on one network (they keep running, so the last ones start
beside many others). Each pings a peer once with a 1 s timeout the moment it starts: a lost
first ping costs the ARP retry the issue measured. Then it pings until answered; the attach
time is from ``docker run -d`` to that answer. Docker's own ``bridge`` driver is measured the
same way in the same run, as the floor.

    sudo .venv/bin/python bench/first_ping.py [--containers 60] [--bridge 8] [--prealloc]

Prints the first-ping losses, the attach time of the first and last few containers, the
last/first ratio (target <= 1.2) and the ratio to the bridge driver. It starts its own dovesnap
(run DOVESNAP_BENCH_INSTANCE, 9 by default), with subnets from that run's own range.
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
    INSTANCE,
    Daemon,
    Docker,
    docker_answers,
    ensure_image,
    run,
    unique,
    wait_until,
)

# One ping the moment the container starts (lost or not), then until one is answered; the
# container's uptime (CLOCK_BOOTTIME, as the host's) stamps the answer.
PROBE = (
    'if ping -c 1 -W 1 "$PEER" >/dev/null 2>&1; then echo first=ok; else echo first=lost; fi; '
    'until ping -c 1 -W 1 "$PEER" >/dev/null 2>&1; do :; done; '
    'echo answered=$(cut -d" " -f1 /proc/uptime); exec sleep 3600'
)


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def start_one(docker: Docker, network: str, peer_ip: str) -> tuple[float, bool]:
    """(seconds to the first answered ping, first ping lost)."""
    name = unique("fp")
    docker.containers.append(name)
    started = boottime()
    run([DOCKER, "run", "-d", "--name", name, "--net", network, "-e", f"PEER={peer_ip}",
         IMAGE, "sh", "-c", PROBE])

    def result() -> dict[str, str] | None:
        out = run([DOCKER, "logs", name], check=False).stdout
        fields = dict(line.split("=", 1) for line in out.split() if "=" in line)
        return fields if "answered" in fields else None

    fields: dict[str, str] = wait_until(result, 120, 0.1, f"first answer to {name}")
    return float(fields["answered"]) - started, fields["first"] == "lost"


def subnet(index: int) -> str:
    return f"10.{INSTANCE * 10 + 5 + index}.0.0/16"


def measure(docker: Docker, network: str, count: int) -> list[tuple[float, bool]]:
    peer = docker.run_container(network)
    peer_ip = docker.ip(peer)
    return [start_one(docker, network, peer_ip) for _ in range(count)]


def report(label: str, results: list[tuple[float, bool]], floor: float, window: int) -> None:
    times = [t for t, _ in results]
    lost = sum(1 for _, was_lost in results if was_lost)
    first = statistics.median(times[:window])
    last = statistics.median(times[-window:])
    print(f"  {label:<18} {len(times):3d} starts, first ping lost {lost:2d} times; attach "
          f"median first {window}: {first:.3f}s, last {window}: {last:.3f}s, "
          f"last/first x{last / first:.2f}, median x{statistics.median(times) / floor:.2f} "
          f"of bridge (max {max(times):.3f}s)")
    losers = [i + 1 for i, (_, was_lost) in enumerate(results) if was_lost]
    if losers:
        print(f"  {'':<18} lost first pings at starts {losers}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--containers", type=int, default=60)
    parser.add_argument("--bridge", type=int, default=8, help="starts on Docker's bridge driver")
    parser.add_argument("--window", type=int, default=8, help="first/last N compared")
    parser.add_argument("--prealloc", action="store_true", help="also a preallocated network")
    args = parser.parse_args()
    if os.geteuid() != 0 or not docker_answers():
        print("run as root with dockerd up (sudo make up starts it)", file=sys.stderr)
        return 1
    ensure_image()
    daemon = Daemon(Path(tempfile.mkdtemp(prefix="dovesnap-bench-")))
    docker = Docker()
    daemon.start()
    results: dict[str, list[tuple[float, bool]]] = {}
    try:
        bridge_net = unique("fpbr")
        run([DOCKER, "network", "create", "--internal", "--subnet", subnet(0), bridge_net])
        docker.networks.append(bridge_net)
        results["bridge"] = measure(docker, bridge_net, args.bridge)
        plain = docker.network("ovs.bridge.dpid=0x7e9101", subnet=subnet(1)).args
        results["dovesnap"] = measure(docker, plain, args.containers)
        if args.prealloc:
            pre = docker.network("ovs.bridge.dpid=0x7e9102",
                                 f"ovs.bridge.preallocate_ports={args.containers + 2}",
                                 subnet=subnet(2)).args
            results["dovesnap+prealloc"] = measure(docker, pre, args.containers)
    finally:
        docker.cleanup()
        daemon.stop()
    floor = statistics.median(t for t, _ in results["bridge"])
    print(f"first ping and attach time, driver {DRIVER} (bridge driver median {floor:.3f}s):")
    for label, values in results.items():
        report(label, values, floor, min(args.window, len(values)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
