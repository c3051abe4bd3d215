"""A stateful stand-in for the iptables and ip6tables commands (both flavours each), at the
subprocess edge.

It keeps each family's and flavour's tables, chains and rules, answers ``-C/-A/-D/-S`` as
iptables does, and loads legacy tables (writes their names to the fake
``/proc/net/ip_tables_names`` or ``ip6_tables_names``) when a legacy command touches them, as the
kernel module loading does. Like Docker 20.10 without ``ip6tables: true``, Docker has no IPv6
chains unless ``docker6_in`` names flavours.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dovesnap.adapters.iptables import Iptables

BUILTIN = {
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}
BINARIES = {
    "/sbin/iptables-nft": (4, "nft"), "/sbin/iptables-legacy": (4, "legacy"),
    "/sbin/ip6tables-nft": (6, "nft"), "/sbin/ip6tables-legacy": (6, "legacy"),
}
Tables = dict[str, dict[str, dict[str, list[tuple[str, ...]]]]]


def _empty() -> Tables:
    return {flavour: {table: {chain: [] for chain in chains} for table, chains in BUILTIN.items()}
            for flavour in ("nft", "legacy")}


class FakeXtables:
    def __init__(self, tmp: Path, alternative: str = "nft", docker_in: Sequence[str] = ("nft",),
                 legacy_loaded: bool = True, docker6_in: Sequence[str] = (),
                 ip6tables: bool = True) -> None:
        self.alternative = alternative
        self.names_file = tmp / "ip_tables_names"
        self.names_file.write_text("nat\nfilter\n" if legacy_loaded else "")
        self.names_file6 = tmp / "ip6_tables_names"
        # Docker's legacy IPv6 chains would have loaded the legacy ip6 tables.
        self.names_file6.write_text("nat\nfilter\n" if "legacy" in docker6_in else "")
        self.ip6tables = ip6tables  # False: a host without the ip6tables commands
        self.rules: Tables = _empty()
        self.rules6: Tables = _empty()
        self.refuse: set[str] = set()  # words that make -A fail (a missing match module ...)
        for rules, flavours in ((self.rules, docker_in), (self.rules6, docker6_in)):
            for flavour in flavours:
                rules[flavour]["nat"]["DOCKER"] = []
                rules[flavour]["filter"]["FORWARD"].append(("-j", "DOCKER-USER"))

    def iptables(self) -> Iptables:
        def which(name: str) -> str | None:
            if name.startswith("ip6tables") and not self.ip6tables:
                return None
            if name in ("iptables", "ip6tables"):
                return f"/sbin/{name}"
            return f"/sbin/{name}" if f"/sbin/{name}" in BINARIES else None

        def resolve(path: str) -> str:
            if path in ("/sbin/iptables", "/sbin/ip6tables"):
                return f"/sbin/xtables-{self.alternative}-multi"
            return path

        return Iptables(self.run, self.names_file, which, resolve, self.names_file6)

    def _load_legacy(self, table: str, family: int) -> None:
        names_file = self.names_file if family == 4 else self.names_file6
        names = names_file.read_text().split()
        if table not in names:
            names_file.write_text("\n".join([*names, table]) + "\n")

    def run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        args = list(argv)
        found = BINARIES.get(args[0])
        if found is None:
            return subprocess.CompletedProcess(args, 127, "", "not found")
        family, flavour = found
        words = args[1:]
        if words[:2] == ["-w", "5"]:
            words = words[2:]
        table = "filter"
        if words[:1] == ["-t"]:
            table, words = words[1], words[2:]
        if flavour == "legacy":
            self._load_legacy(table, family)
        chains = (self.rules if family == 4 else self.rules6)[flavour][table]
        op, rest = words[0], words[1:]
        if op == "-S":
            return self._list(args, chains, rest[0] if rest else None)
        chain, spec = rest[0], tuple(rest[1:])
        if chain not in chains:
            return subprocess.CompletedProcess(args, 1, "", f"No chain/target/match by that name {chain}")
        if op == "-C":
            return subprocess.CompletedProcess(args, 0 if spec in chains[chain] else 1, "", "")
        if op == "-A":
            if any(word in self.refuse for word in spec):
                return subprocess.CompletedProcess(args, 2, "", "Couldn't load match")
            chains[chain].append(spec)
            return subprocess.CompletedProcess(args, 0, "", "")
        if op == "-D":
            if spec not in chains[chain]:
                return subprocess.CompletedProcess(args, 1, "", "Bad rule")
            chains[chain].remove(spec)
            return subprocess.CompletedProcess(args, 0, "", "")
        return subprocess.CompletedProcess(args, 2, "", f"unknown option {op}")

    def _list(self, args: list[str], chains: dict[str, list[tuple[str, ...]]],
              only: str | None) -> subprocess.CompletedProcess[str]:
        if only is not None and only not in chains:
            return subprocess.CompletedProcess(args, 1, "", "No chain/target/match by that name.")
        lines = []
        for chain, rules in chains.items():
            if only is not None and chain != only:
                continue
            lines.append(f"-N {chain}" if chain.isupper() and chain in ("DOCKER",) else f"-P {chain} ACCEPT")
            for spec in rules:
                # iptables puts double quotes around comments, whatever they hold.
                shown = [f'"{w}"' if i and spec[i - 1] == "--comment" else shlex.quote(w)
                         for i, w in enumerate(spec)]
                lines.append(f"-A {chain} " + " ".join(shown))
        return subprocess.CompletedProcess(args, 0, "\n".join(lines) + "\n", "")

    def tagged(self, flavour: str, needle: str = "dovesnap:", family: int = 4,
               ) -> list[tuple[str, str, tuple[str, ...]]]:
        return [
            (table, chain, spec)
            for table, chains in (self.rules if family == 4 else self.rules6)[flavour].items()
            for chain, rules in chains.items()
            for spec in rules
            if any(needle in word for word in spec)
        ]
