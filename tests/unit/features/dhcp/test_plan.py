"""DHCP networks, pure parts: options, client argv/env, reports, pidfiles; and the shipped script.

The script test runs the real ``udhcpc-script.sh`` with ``sh``, with a stand-in ``ip`` on PATH
that records its argv, and reads its report from a real FIFO through ``FifoReader``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dovesnap.errors import OptionError
from dovesnap.features.dhcp.events import FifoReader
from dovesnap.features.dhcp.hooks import install_script, packaged_script
from dovesnap.features.dhcp.plan import (
    ENV_ENDPOINT,
    ENV_FIFO,
    LeaseEvent,
    RunPaths,
    client_plan,
    hostname_for,
    is_own_client,
    orphans_of,
    parse_event,
    parse_pidfile_name,
    restart_delay,
    split_lines,
)
from dovesnap.features.external_ports.plan import attach_plan
from dovesnap.model.network import parse_network
from dovesnap.model.options import PortRequest

NET = "a" * 64
EP = "b" * 64
CTRL = ("tcp:127.0.0.1:6653",)
NULL_IPAM = [{"AddressSpace": "null", "Pool": "0.0.0.0/0"}]  # what Docker really sends
DEFAULT_IPAM = [{"AddressSpace": "LocalDefault", "Gateway": "172.23.0.1/16", "Pool": "172.23.0.0/16"}]
PATHS = RunPaths(Path("/var/lib/dovesnap/dhcp"))


def dhcp_net(ipv4: Any, internal: bool, **options: str) -> Any:
    opts = {"ovs.bridge.dpid": "0x7e4010", "ovs.bridge.dhcp": "true"}
    opts |= {"ovs.bridge." + k: v for k, v in options.items()}
    return parse_network(NET, opts, ipv4, [], CTRL, internal)


# --- options ----------------------------------------------------------------------------------


def test_null_ipam_as_docker_sends_it_is_accepted_for_dhcp() -> None:
    spec = dhcp_net(NULL_IPAM, True)
    assert spec.dhcp and spec.ipv4 == () and spec.subnet is None and spec.gateway is None


@pytest.mark.parametrize(
    ("ipv4", "internal", "options", "says"),
    [
        (NULL_IPAM, False, {}, "--internal"),
        (DEFAULT_IPAM, True, {}, "--ipam-driver null"),
        (NULL_IPAM, True, {"mode": "nat"}, "mode flat, not nat"),
        (NULL_IPAM, True, {"mode": "routed"}, "mode flat, not routed"),
        (DEFAULT_IPAM, False, {"mode": "nat"}, "mode flat"),
    ],
)
def test_dhcp_networks_must_be_flat_internal_null_ipam(
    ipv4: Any, internal: bool, options: dict[str, str], says: str
) -> None:
    with pytest.raises(OptionError) as info:
        dhcp_net(ipv4, internal, **options)
    assert info.value.option == "ovs.bridge.dhcp"
    assert says in info.value.message and info.value.fix


def test_null_ipam_without_dhcp_still_refuses_nat_for_want_of_a_gateway() -> None:
    with pytest.raises(OptionError) as info:
        parse_network(NET, {"ovs.bridge.dpid": "0x1", "ovs.bridge.mode": "nat"}, NULL_IPAM, [], CTRL)
    assert info.value.option == "ovs.bridge.mode"


def test_unrequested_add_port_goes_above_the_preallocated_range() -> None:
    reserved = [99, 1, 2, 3]  # lbport and preallocate_ports=3, as external_ports passes them
    plan = attach_plan([PortRequest("srv"), PortRequest("asked", 2)], [], reserved)
    assert plan == [(PortRequest("srv"), 4), (PortRequest("asked", 2), 2)]


# --- client argv and files ----------------------------------------------------------------------


def test_client_plan_is_an_argv_list_with_the_name_as_one_element() -> None:
    name = "web-1; rm -rf / $(reboot)"  # not a Docker name: never sent
    assert hostname_for(name) is None
    plan = client_plan(PATHS, ("/usr/sbin/udhcpc",), "/usr/bin/nsenter", "/run/docker/netns/x y",
                       "eth0", NET, EP, hostname_for("/web_1.example"))
    argv = list(plan.argv)
    assert argv[:4] == ["/usr/bin/nsenter", "--net=/run/docker/netns/x y", "--", "/usr/sbin/udhcpc"]
    assert argv[argv.index("-i") + 1] == "eth0"
    assert argv[argv.index("-x") + 1] == "hostname:web_1.example"
    assert argv[argv.index("-s") + 1] == str(PATHS.script)
    assert argv[argv.index("-p") + 1] == str(PATHS.pidfile(NET, EP)) == str(plan.pidfile)
    assert "-f" in argv and "-R" in argv  # foreground (we watch it), release when stopped
    assert plan.env == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", ENV_FIFO: str(PATHS.fifo),
                        ENV_ENDPOINT: EP}


def test_busybox_applet_and_no_hostname() -> None:
    plan = client_plan(PATHS, ("/bin/busybox", "udhcpc"), "nsenter", "/ns", "eth1", NET, EP, None)
    assert plan.argv[3:5] == ("/bin/busybox", "udhcpc") and "-x" not in plan.argv
    assert is_own_client(plan.argv[3:], plan.pidfile, PATHS.script)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("web", "web"), ("/web", "web"), ("a.b_c-d", "a.b_c-d"), ("-x", None), ("", None),
     ("a" * 253, "a" * 253), ("a" * 254, None), ("bad name", None), ("x\ny", None),
     ("ünï", None)],
)
def test_hostname_is_the_container_name_if_docker_would_take_it(
    name: str, expected: str | None
) -> None:
    assert hostname_for(name) == expected


def test_pidfile_names_round_trip_and_reject_strangers() -> None:
    assert parse_pidfile_name(PATHS.pidfile(NET, EP).name) == (NET, EP)
    for name in ("x.pid", f"{NET}.pid", f"{NET}.{EP}.log", f"../{NET}.{EP}.pid", f"{NET}.{EP}"):
        assert parse_pidfile_name(name) is None
    with pytest.raises(ValueError):
        PATHS.pidfile("../etc", EP)


def test_own_client_is_recognised_by_its_pidfile_and_script() -> None:
    plan = client_plan(PATHS, ("/usr/sbin/udhcpc",), "nsenter", "/ns", "eth0", NET, EP, "c")
    cmdline = list(plan.argv[3:])  # nsenter has exec'd udhcpc: this is what /proc shows
    assert is_own_client(cmdline, plan.pidfile, PATHS.script)
    other_ep = PATHS.pidfile(NET, "c" * 64)
    assert not is_own_client(cmdline, other_ep, PATHS.script)
    assert not is_own_client(["/bin/sleep", "-p", str(plan.pidfile), "-s", str(PATHS.script)],
                             plan.pidfile, PATHS.script)
    assert not is_own_client([], plan.pidfile, PATHS.script)


def test_restart_delay_backs_off_and_is_capped() -> None:
    delays = [restart_delay(n) for n in range(12)]
    assert delays[0] == 0.5 and delays == sorted(delays) and delays[-1] == 30.0


def test_orphans_split_into_adopt_and_stop() -> None:
    found = [(NET, EP), (NET, "c" * 64), ("d" * 64, "e" * 64)]
    assert orphans_of(found, NET, [EP]) == ([EP], ["c" * 64])
    assert orphans_of(found, NET, []) == ([], [EP, "c" * 64])


# --- reports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"dovesnap-dhcp1 event=bound ep={EP} ip=198.18.4.7 mask=24 router=198.18.4.1 lease=600",
         LeaseEvent("bound", EP, "198.18.4.7/24", "198.18.4.1", 600)),
        (f"dovesnap-dhcp1 event=renew ep={EP} ip=10.0.0.2 mask= router= lease=",
         LeaseEvent("renew", EP, "10.0.0.2/32", None, None)),
        (f"dovesnap-dhcp1 event=deconfig ep={EP} ip= mask=32 router= lease=",
         LeaseEvent("deconfig", EP)),
        (f"dovesnap-dhcp1 event=leasefail ep={EP} ip= mask=32 router= lease=",
         LeaseEvent("leasefail", EP)),
        (f"dovesnap-dhcp1 event=bound ep={EP} ip=198.18.4.7 mask=24 router=evil lease=99999999999",
         LeaseEvent("bound", EP, "198.18.4.7/24", None, None)),
    ],
)
def test_reports_are_read(line: str, expected: LeaseEvent) -> None:
    assert parse_event(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "hello",
        f"dovesnap-dhcp0 event=bound ep={EP} ip=1.2.3.4 mask=24",
        f"dovesnap-dhcp1 event=explode ep={EP}",
        "dovesnap-dhcp1 event=bound ep=../../x ip=1.2.3.4 mask=24",
        f"dovesnap-dhcp1 event=bound ep={EP} ip=1.2.3.400 mask=24",
        f"dovesnap-dhcp1 event=bound ep={EP} ip=1.2.3.4 mask=33",
        f"dovesnap-dhcp1 event=bound ep={EP} ip=1.2.3.4 mask=0",
        f"dovesnap-dhcp1 event=bound ep={EP} ip=1.2.3.4 ip=5.6.7.8 mask=24",
        f"dovesnap-dhcp1 event=bound ep={EP} ip=::1 mask=24",
        f"dovesnap-dhcp1 event=bound ep={EP} garbage",
    ],
)
def test_malformed_reports_are_refused(line: str) -> None:
    assert parse_event(line) is None


def test_split_lines_keeps_the_incomplete_rest() -> None:
    assert split_lines(b"a\nb\n\nc") == (["a", "b"], b"c")
    assert split_lines(b"") == ([], b"")


# --- the shipped script, run for real ------------------------------------------------------------

STUB_IP = """#!/bin/sh
for arg in "$@"; do printf '[%s]' "$arg"; done >> "$IP_LOG"
echo >> "$IP_LOG"
if [ "$1" = -4 ] && [ "$2" = -o ]; then printf '%s\\n' "$IP_SHOW"; fi
"""


def run_script(tmp_path: Path, event: str, **lease: str) -> tuple[list[str], list[str]]:
    """Run the packaged script for ``event``; return the ip calls and the reports dovesnap read."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "ip").write_text(STUB_IP)
    (bindir / "ip").chmod(0o755)
    script = tmp_path / "run" / "udhcpc-script"
    install_script(script, packaged_script())
    log = tmp_path / "ip.log"
    log.write_text("")
    reports: list[str] = []

    async def go() -> None:
        reader = FifoReader()
        reader.start(tmp_path / "run" / "leases.fifo", reports.append)
        try:
            env = {"PATH": f"{bindir}:/usr/bin:/bin", "IP_LOG": str(log), ENV_ENDPOINT: EP,
                   ENV_FIFO: str(tmp_path / "run" / "leases.fifo"), **lease}
            proc = await asyncio.create_subprocess_exec(str(script), event, env=env)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            for _ in range(100):
                if reports:
                    break
                await asyncio.sleep(0.01)
        finally:
            reader.stop()

    asyncio.run(go())
    return log.read_text().splitlines(), reports


def test_script_sets_the_lease_and_reports_it(tmp_path: Path) -> None:
    calls, reports = run_script(
        tmp_path, "bound", interface="eth0", ip="198.18.4.7", mask="24",
        router="198.18.4.1 198.18.4.2", lease="600", IP_SHOW="2: eth0    inet 10.9.9.9/8 brd x",
    )
    assert calls == [
        "[-4][-o][addr][show][dev][eth0]",
        "[-4][addr][flush][dev][eth0]",
        "[addr][add][198.18.4.7/24][brd][+][dev][eth0]",
        "[route][replace][default][via][198.18.4.1][dev][eth0]",
    ]
    assert [parse_event(r) for r in reports] == [
        LeaseEvent("bound", EP, "198.18.4.7/24", "198.18.4.1", 600)
    ]


def test_script_keeps_an_address_it_already_has_on_renew(tmp_path: Path) -> None:
    calls, reports = run_script(
        tmp_path, "renew", interface="eth0", ip="198.18.4.7", mask="24", lease="600",
        IP_SHOW="2: eth0    inet 198.18.4.7/24 brd 198.18.4.255 scope global eth0",
    )
    assert calls == ["[-4][-o][addr][show][dev][eth0]"]
    assert parse_event(reports[0]) == LeaseEvent("renew", EP, "198.18.4.7/24", None, 600)


def test_script_quotes_what_the_server_sent(tmp_path: Path) -> None:
    calls, _ = run_script(tmp_path, "deconfig", interface="eth0 $(touch pwned)")
    assert calls == ["[-4][addr][flush][dev][eth0 $(touch pwned)]",
                     "[link][set][dev][eth0 $(touch pwned)][up]"]
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()


def test_script_does_not_block_or_make_a_file_without_dovesnap(tmp_path: Path) -> None:
    script = tmp_path / "udhcpc-script"
    install_script(script, packaged_script())
    assert script.stat().st_mode & 0o777 == 0o700
    fifo = tmp_path / "leases.fifo"
    os.mkfifo(fifo)  # nobody reads it
    for target in (fifo, tmp_path / "missing.fifo"):
        env = {"PATH": "/usr/bin:/bin", ENV_FIFO: str(target), ENV_ENDPOINT: EP, "interface": "e"}
        done = subprocess.run([str(script), "leasefail"], env=env, timeout=5, check=False)
        assert done.returncode == 0
    assert not (tmp_path / "missing.fifo").exists()
