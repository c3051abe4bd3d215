"""A stateful stand-in for the iptables commands (both flavours), at the subprocess edge.

It keeps each flavour's tables, chains and rules, answers ``-C/-A/-D/-S`` as iptables does, and
loads legacy tables (writes their names to the fake ``/proc/net/ip_tables_names``) when a legacy
command touches them, as the kernel module loading does.
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
BINARIES = {"/sbin/iptables-nft": "nft", "/sbin/iptables-legacy": "legacy"}


class FakeXtables:
    def __init__(self, tmp: Path, alternative: str = "nft", docker_in: Sequence[str] = ("nft",),
                 legacy_loaded: bool = True) -> None:
        self.alternative = alternative
        self.names_file = tmp / "ip_tables_names"
        self.names_file.write_text("nat\nfilter\n" if legacy_loaded else "")
        self.rules: dict[str, dict[str, dict[str, list[tuple[str, ...]]]]] = {
            flavour: {table: {chain: [] for chain in chains} for table, chains in BUILTIN.items()}
            for flavour in ("nft", "legacy")
        }
        self.refuse: set[str] = set()  # words that make -A fail (a missing match module ...)
        for flavour in docker_in:
            self.rules[flavour]["nat"]["DOCKER"] = []
            self.rules[flavour]["filter"]["FORWARD"].append(("-j", "DOCKER-USER"))

    def iptables(self) -> Iptables:
        def which(name: str) -> str | None:
            return {"iptables-nft": "/sbin/iptables-nft", "iptables-legacy": "/sbin/iptables-legacy",
                    "iptables": "/sbin/iptables"}.get(name)

        def resolve(path: str) -> str:
            if path == "/sbin/iptables":
                return f"/sbin/xtables-{self.alternative}-multi"
            return path

        return Iptables(self.run, self.names_file, which, resolve)

    def _load_legacy(self, table: str) -> None:
        names = self.names_file.read_text().split()
        if table not in names:
            self.names_file.write_text("\n".join([*names, table]) + "\n")

    def run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        args = list(argv)
        flavour = BINARIES.get(args[0])
        if flavour is None:
            return subprocess.CompletedProcess(args, 127, "", "not found")
        words = args[1:]
        if words[:2] == ["-w", "5"]:
            words = words[2:]
        table = "filter"
        if words[:1] == ["-t"]:
            table, words = words[1], words[2:]
        if flavour == "legacy":
            self._load_legacy(table)
        chains = self.rules[flavour][table]
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

    def tagged(self, flavour: str, needle: str = "dovesnap:") -> list[tuple[str, str, tuple[str, ...]]]:
        return [
            (table, chain, spec)
            for table, chains in self.rules[flavour].items()
            for chain, rules in chains.items()
            for spec in rules
            if any(needle in word for word in spec)
        ]
