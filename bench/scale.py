"""Scale: containers from the first to the 250th, FAUCET config sizes, and the cost of idling.

    sudo .venv/bin/python bench/scale.py                      # 10 networks x 25, 1 x 250
    sudo .venv/bin/python bench/scale.py --containers 60 --networks 3 --sizes 28k,1024

For each layout (N networks with the containers spread round robin; and all on one network),
containers are started one by one and then 20 at a time, on dovesnap and, in the same run, on
Docker's bridge driver. Reported: the median time from ``docker run -d`` to the container's
first answered ping of a peer for the first and the last 20 containers (and their ratio), lost
first pings (first echo unanswered for 0.5 s: an ARP/ICMP retry), FAUCET reloads per container,
p99 of Plugin.Activate asked every 50 ms during the run, dovesnap's RSS, and with everything up
the idle CPU of dovesnap, FAUCET, Gauge and ovs-vswitchd over --idle-seconds (% of one core;
ovs-vswitchd is the host's, shared with anything else using it). ``--sizes`` first times a
one-port change at each FAUCET config size against FAUCET's own reload (bench/scale_sizes.py).
``--preallocated`` also runs dovesnap networks created with ``ovs.bridge.preallocate_ports`` (a
port for each container and the peer): a container takes one over without a FAUCET reload.
``--spare-ports N`` runs dovesnap with ``--spare-ports N`` (shown as driver ``dovesnap+spareN``):
every network keeps N placeholders ready and refills them in the background.
``DOVESNAP_BENCH_DEBUG=1`` runs that dovesnap with ``--debug``.

It starts its own dovesnap (DOVESNAP_TEST_INSTANCE, default 9: plugin ``dovesnap-t90``, its own
ports) and uses that run's addresses (10.<run*10+8>.0.0/16 for dovesnap, +9 for the bridge).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("DOVESNAP_TEST_INSTANCE", os.environ.get("DOVESNAP_BENCH_INSTANCE", "9"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale_probe import (
    PROBE,
    ActivatePoller,
    FirstPing,
    boottime,
    idle_cpu,
    median,
    parse_probe,
    percentile,
    pid_from,
    pids_named,
    rss_mib,
)
from scale_sizes import SIZES, measure_size, print_sizes

from dovesnap.config import FAUCET_DESCRIPTION_DELAY
from dovesnap.features.spare_ports.plan import QUIET as SPARE_QUIET
from tests.integration.rig import (
    DOCKER,
    IMAGE,
    INSTANCE,
    SUITE,
    Daemon,
    docker_answers,
    ensure_image,
    run,
    unique,
)

EDGE = 20  # containers in the "first" and "last" groups
PREALLOCATED = "dovesnap+pre"  # dovesnap networks with a preallocated port per container


@dataclass
class ModeResult:
    driver: str
    layout: str
    mode: str
    pings: list[FirstPing | None] = field(default_factory=list)
    reloads: float = float("nan")
    faucet_restarts: int = 0
    activate: list[float] = field(default_factory=list)
    rss: float = float("nan")

    def edge(self, last: bool) -> float:
        done = [p.seconds for p in self.pings if p is not None]
        return median(done[-EDGE:] if last else done[:EDGE])

    def edge_rtt(self, last: bool) -> float:
        """Median round trip (ms) of the first answered echo: the switch's share of the time."""
        done = [p.rtt_ms for p in self.pings if p is not None]
        return median(done[-EDGE:] if last else done[:EDGE])

    @property
    def lost(self) -> int:
        return sum(1 for p in self.pings if p is None or p.lost)


class Bench:
    def __init__(self, args: argparse.Namespace, daemon: Daemon) -> None:
        self.args = args
        self.daemon = daemon
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.made = 0  # networks made so far: each gets its own subnet (Docker may be slow to
        # let go of the last run's)

    # -- docker objects ---------------------------------------------------------------------------

    def network(self, driver: str, networks: int) -> str:
        name = unique("scale")
        octet = INSTANCE * 10 + (9 if driver == "bridge" else 8)
        number, self.made = self.made, self.made + 1
        third = 4 * number % 256
        argv = [DOCKER, "network", "create", "--internal", "--subnet", f"10.{octet}.{third}.0/22"]
        if driver != "bridge":
            argv += ["-d", SUITE.driver, "-o", f"ovs.bridge.dpid={0x7E5900 + number:#x}"]
        if driver == PREALLOCATED:
            ports = -(-self.args.containers // networks) + 1  # its share, and the peer
            argv += ["-o", f"ovs.bridge.preallocate_ports={ports}"]
        run([*argv, name])
        self.networks.append(name)
        return name

    def start(self, network: str, peer_ip: str) -> tuple[str, float]:
        name = unique("s")
        self.containers.append(name)
        started = boottime()
        run([DOCKER, "run", "-d", "--name", name, "--net", network, "-e", f"PEER={peer_ip}",
             IMAGE, "sh", "-c", PROBE])
        return name, started

    def first_ping(self, name: str, started: float, timeout: float = 90) -> FirstPing | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ping = parse_probe(run([DOCKER, "logs", name], check=False).stdout, started)
            if ping is not None:
                return ping
            time.sleep(0.1)
        return None

    def clean(self) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: run([DOCKER, "rm", "-f", c], check=False), self.containers))
        for net in self.networks:
            for _ in range(5):  # Docker may still be letting go of an endpoint
                if run([DOCKER, "network", "rm", net], check=False).returncode == 0:
                    break
                time.sleep(2)
        self.containers.clear()
        self.networks.clear()

    # -- one layout, one driver, one mode ---------------------------------------------------------

    def metric(self, url: str, name: str) -> float:
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                text = resp.read().decode()
        except OSError:
            return float("nan")
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith(name) and not line.startswith("#"))

    def faucet_reloads(self) -> float:
        """FAUCET reloads dovesnap asked for (its own counter: FAUCET's restarts from zero)."""
        return self.metric(f"http://127.0.0.1:{SUITE.status_port}/metrics",
                           "dovesnap_faucet_reloads_total")

    def faucet_restarts(self) -> int:
        log = self.daemon.log_file.read_text(errors="replace")
        return log.count("faucet exited with")

    def run_mode(self, driver: str, layout: str, networks: int, mode: str) -> ModeResult:
        result = ModeResult(driver, layout, mode)
        nets = [self.network(driver, networks) for _ in range(networks)]
        peers = []
        for net in nets:
            peer = unique("p")
            self.containers.append(peer)
            run([DOCKER, "run", "-d", "--name", peer, "--net", net, IMAGE, "sleep", "3600"])
            peers.append(run([DOCKER, "inspect", "-f",
                              "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                              peer]).stdout.strip())
        ours = driver != "bridge"
        poller = ActivatePoller(SUITE.socket) if ours else None
        before, restarts = self.faucet_reloads(), self.faucet_restarts()
        if poller is not None:
            poller.start()
        try:
            total = self.args.containers
            if mode == "one by one":
                for i in range(total):
                    name, started = self.start(nets[i % networks], peers[i % networks])
                    result.pings.append(self.first_ping(name, started))
            else:
                with ThreadPoolExecutor(self.args.burst) as pool:
                    for first in range(0, total, self.args.burst):
                        group = range(first, min(total, first + self.args.burst))
                        started = list(pool.map(
                            lambda i: self.start(nets[i % networks], peers[i % networks]), group))
                        result.pings += list(pool.map(lambda s: self.first_ping(*s), started))
        finally:
            if poller is not None:
                poller.stop()
                result.activate = poller.samples
        if ours:
            time.sleep(FAUCET_DESCRIPTION_DELAY + 1)  # renames held back go out meanwhile
            result.reloads = (self.faucet_reloads() - before) / self.args.containers
            result.faucet_restarts = self.faucet_restarts() - restarts
            assert self.daemon.proc is not None
            result.rss = rss_mib(self.daemon.proc.pid)
        return result

    def idle(self) -> dict[str, float]:
        state = self.daemon.workdir / "state"
        assert self.daemon.proc is not None
        pids = {"dovesnap": self.daemon.proc.pid}
        for name in ("faucet", "gauge"):
            pid = pid_from(state / f"{name}.pid")
            if pid is not None:
                pids[name] = pid
        for i, pid in enumerate(pids_named("ovs-vswitchd")):
            pids[f"ovs-vswitchd{i or ''}"] = pid
        # Let the last reloads and pings settle, and spare ports shrink back (a one-off write
        # QUIET seconds after the last container, not part of idling).
        time.sleep(5 + (SPARE_QUIET if self.args.spare_ports else 0))
        return idle_cpu(pids, self.args.idle_seconds)


def row(r: ModeResult) -> str:
    first, last = r.edge(False), r.edge(True)
    extra = ""
    if r.driver != "bridge":
        extra = (f" {r.reloads:9.2f} {percentile(r.activate, 0.99) * 1000:10.1f}ms"
                 f" {max(r.activate, default=float('nan')) * 1000:5.0f}ms {r.rss:6.0f}MiB"
                 + (f"  FAUCET restarted {r.faucet_restarts}x" if r.faucet_restarts else ""))
    rtt = f"{r.edge_rtt(False):5.1f}/{r.edge_rtt(True):<5.1f}"
    return (f"  {r.layout:<12} {r.mode:<11} {r.driver:<15} {first:6.2f} {last:6.2f} "
            f"{last / first:10.2f} {r.lost:3d}/{len(r.pings):<3d} {rtt:>11}{extra}")


def report(results: list[ModeResult], idle: dict[str, float]) -> None:
    print(f"\nTime to first ping (median, s) of the first and last {EDGE} containers")
    print(f"  {'layout':<12} {'mode':<11} {'driver':<15} {'first':>6} {'last':>6} {'last/first':>10}"
          f" {'lost':>6} {'rtt ms':>11} {'reloads/c':>9} {'Activate p99':>12} {'max':>7} {'RSS':>8}")
    for r in results:
        print(row(r))
    bridge = {(r.layout, r.mode): r for r in results if r.driver == "bridge"}
    for r in results:
        base = bridge.get((r.layout, r.mode))
        if r.driver != "bridge" and base is not None:
            print(f"  {r.layout} {r.mode}: {r.driver}/bridge first x{r.edge(False) / base.edge(False):.2f}"
                  f", last x{r.edge(True) / base.edge(True):.2f}")
    if idle:
        print("Idle CPU with everything up (% of one core): "
              + ", ".join(f"{name} {value:.2f}" for name, value in idle.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=250, help="per layout (250)")
    parser.add_argument("--networks", type=int, default=10, help="of the first layout (10)")
    parser.add_argument("--no-one-network", action="store_true",
                        help="skip the layout with every container on one network")
    parser.add_argument("--burst", type=int, default=20, help="started at a time (20)")
    parser.add_argument("--modes", default="one by one,burst", help="one by one,burst")
    parser.add_argument("--preallocated", action="store_true",
                        help="also run dovesnap networks with a preallocated port for each of "
                             f"their containers (shown as driver {PREALLOCATED})")
    parser.add_argument("--spare-ports", type=int, default=0,
                        help="run dovesnap with --spare-ports N (driver dovesnap+spareN)")
    parser.add_argument("--no-bridge", action="store_true", help="skip Docker's bridge driver")
    parser.add_argument("--sizes", default="28k,1024,1m", help=f"of {','.join(SIZES)} ('' none)")
    parser.add_argument("--size-rounds", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (sudo)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="dovesnap-scale-"))
    sizes = [s for s in args.sizes.split(",") if s]
    if sizes:
        print_sizes([measure_size(s, work / "sizes", SUITE.faucet_of_port, SUITE.faucet_prom_port,
                                  args.size_rounds) for s in sizes])
    if args.containers <= 0:
        return 0
    if not docker_answers():
        print("dockerd does not answer (sudo make up starts it)", file=sys.stderr)
        return 1
    ensure_image()
    daemon = Daemon(work / "dovesnap")
    flags = ["--debug"] if os.environ.get("DOVESNAP_BENCH_DEBUG") else []
    if args.spare_ports:
        flags += ["--spare-ports", str(args.spare_ports)]
    daemon.start(flags)
    bench = Bench(args, daemon)
    results: list[ModeResult] = []
    idle: dict[str, float] = {}
    layouts = [(f"{args.networks}x{args.containers // args.networks}", args.networks)]
    if not args.no_one_network and args.networks != 1:
        layouts.append((f"1x{args.containers}", 1))
    ours = f"dovesnap+spare{args.spare_ports}" if args.spare_ports else "dovesnap"
    drivers = ([ours] + ([PREALLOCATED] if args.preallocated else [])
               + ([] if args.no_bridge else ["bridge"]))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    try:
        for layout, networks in layouts:
            for driver in drivers:
                for mode in modes:
                    print(f"{layout} {driver} {mode} ...", flush=True)
                    try:
                        results.append(bench.run_mode(driver, layout, networks, mode))
                        print(row(results[-1]), flush=True)  # as measured, before the table
                        if driver != "bridge" and not idle and args.idle_seconds > 0:
                            idle = bench.idle()
                    except Exception as err:  # report what was measured; say what was not
                        print(f"  {layout} {driver} {mode} not measured: {err}", flush=True)
                    bench.clean()
    finally:
        bench.clean()
        daemon.stop()
    report(results, idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
