"""iptables adapter: add dovesnap's rules once, find them again by comment, delete them.

IPv4 rules go to ``iptables``, IPv6 rules to ``ip6tables``, each in the flavour (nftables-backed
or legacy) that Docker's own chains live in (``choose_flavour``/``choose_ipv6_flavour``), so both
firewalls agree on what is forwarded; removal looks in every flavour and family present, so a
rule is never stranded when the host switched flavours in between. Only argv lists reach
subprocesses. Blocking calls; run them in a worker thread from asyncio.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from dovesnap.errors import BackendError
from dovesnap.plan.firewall import (
    COMMANDS,
    FAMILIES,
    FLAVOURS,
    IPV4,
    IPV6,
    Rule,
    belongs_to,
    choose_flavour,
    choose_ipv6_flavour,
    flavour_of_command,
)

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
TABLES = ("nat", "filter")
LEGACY_TABLES = Path("/proc/net/ip_tables_names")
LEGACY_TABLES6 = Path("/proc/net/ip6_tables_names")
WAIT = ("-w", "5")


class IptablesBackend(Protocol):
    def ensure(self, rules: Sequence[Rule]) -> str: ...
    def remove_owned(self, owner_tag: str) -> int: ...
    def owned(self, owner_tag: str) -> list[Rule]: ...
    def tagged(self, prefix: str) -> list[Rule]: ...


def run_argv(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return subprocess.CompletedProcess(list(argv), 127, "", str(err))


def parse_listing(table: str, text: str, family: int = IPV4) -> list[Rule]:
    """Rules of an ``iptables -t TABLE -S`` listing (chain policies and -N lines skipped)."""
    rules = []
    for line in text.splitlines():
        if not line.startswith("-A "):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if len(words) >= 2:
            rules.append(Rule(table, words[1], tuple(words[2:]), family))
    return rules


class Iptables:
    """The host's iptables and ip6tables, through their ``-nft``/``-legacy`` commands."""

    def __init__(
        self,
        runner: Runner = run_argv,
        legacy_tables: Path = LEGACY_TABLES,
        which: Callable[[str], str | None] = shutil.which,
        resolve: Callable[[str], str] = os.path.realpath,
        legacy_tables6: Path = LEGACY_TABLES6,
    ) -> None:
        self._run = runner
        self._legacy_tables = {IPV4: legacy_tables, IPV6: legacy_tables6}
        self._which = which
        self._resolve = resolve

    def _binary(self, flavour: str, family: int = IPV4) -> str | None:
        return self._which(f"{COMMANDS[family]}-{flavour}")

    def _legacy_loaded(self, table: str, family: int = IPV4) -> bool:
        # Listing a legacy table loads its kernel module; only look where Docker could have been.
        try:
            return table in self._legacy_tables[family].read_text().split()
        except OSError:
            return False

    def _present(self, family: int = IPV4) -> dict[str, str]:
        """Flavour -> command, for the flavours this host has (none: no such command at all)."""
        found = {f: b for f in FLAVOURS if (b := self._binary(f, family)) is not None}
        if not found:
            plain = self._which(COMMANDS[family])
            if plain is not None:
                found[self._default_flavour(plain)] = plain
        return found

    def _default_flavour(self, plain: str) -> str:
        resolved = self._resolve(plain)
        version = ""
        if "nft" not in resolved and "legacy" not in resolved:
            version = self._run([plain, "--version"]).stdout
        return flavour_of_command(resolved, version)

    def _has_docker_chain(self, flavour: str, binary: str, family: int = IPV4) -> bool:
        if flavour == "legacy" and not self._legacy_loaded("nat", family):
            return False
        return self._run([binary, *WAIT, "-t", "nat", "-S", "DOCKER"]).returncode == 0

    def flavour(self, family: int = IPV4) -> tuple[str, str]:
        """(flavour, command) dovesnap writes ``family``'s rules to now."""
        present = self._present(family)
        if not present:
            command = COMMANDS[family]
            raise BackendError(f"no {command} command on this host",
                               f"install iptables (it brings {command}, nft or legacy)")
        docker = {f: self._has_docker_chain(f, b, family) for f, b in present.items()}
        if family == IPV4:
            plain = self._which("iptables")
            alternative = self._default_flavour(plain) if plain else next(iter(present))
            chosen = choose_flavour(docker.get("nft", False), docker.get("legacy", False),
                                    alternative)
        else:
            chosen = choose_ipv6_flavour(docker.get("nft", False), docker.get("legacy", False),
                                         self.flavour(IPV4)[0] if self._present(IPV4) else "")
        if chosen not in present:
            chosen = next(iter(present))
        return chosen, present[chosen]

    def ensure(self, rules: Sequence[Rule]) -> str:
        """Add each rule unless it is there already; return the flavour used (IPv4's first)."""
        used = ""
        for family in FAMILIES:
            wanted = [rule for rule in rules if rule.family == family]
            if wanted:
                flavour = self._ensure(family, wanted)
                used = used or flavour
        return used

    def _ensure(self, family: int, rules: Sequence[Rule]) -> str:
        flavour, binary = self.flavour(family)
        for rule in rules:
            check = [binary, *WAIT, "-t", rule.table, "-C", rule.chain, *rule.spec]
            if self._run(check).returncode == 0:
                continue
            added = self._run([binary, *WAIT, "-t", rule.table, "-A", rule.chain, *rule.spec])
            if added.returncode != 0:
                raise BackendError(
                    f"{COMMANDS[family]} ({flavour}) refused a rule in {rule.table} {rule.chain} "
                    f"({' '.join(rule.spec)}): {added.stderr.strip()[:300]}",
                    "check that the iptables modules (comment, conntrack, addrtype) are available",
                )
        return flavour

    def _listing(self, binary: str, flavour: str, family: int = IPV4) -> list[Rule]:
        rules: list[Rule] = []
        for table in TABLES:
            if flavour == "legacy" and not self._legacy_loaded(table, family):
                continue
            listed = self._run([binary, *WAIT, "-t", table, "-S"])
            if listed.returncode == 0:
                rules.extend(parse_listing(table, listed.stdout, family))
        return rules

    def _everywhere(self) -> list[tuple[str, str, Rule]]:
        """(flavour, command, rule) for every rule of every family and flavour present."""
        found: list[tuple[str, str, Rule]] = []
        for family in FAMILIES:
            for flavour, binary in self._present(family).items():
                found.extend((flavour, binary, r) for r in self._listing(binary, flavour, family))
        if not found and not self._present(IPV4):
            raise BackendError("no iptables command on this host", "install iptables (nft or legacy)")
        return found

    def owned(self, owner_tag: str) -> list[Rule]:
        """Every rule, in any flavour and family, whose comment belongs to ``owner_tag``."""
        return [rule for _, _, rule in self._everywhere() if belongs_to(rule.tag, owner_tag)]

    def tagged(self, prefix: str) -> list[Rule]:
        """Every rule, in any flavour and family, whose comment starts with ``prefix`` (all of
        dovesnap's, every instance's, with ``dovesnap:``)."""
        return [rule for _, _, rule in self._everywhere() if rule.tag.startswith(prefix)]

    def remove_owned(self, owner_tag: str) -> int:
        """Delete every rule, in any flavour and family, whose comment belongs to ``owner_tag``."""
        removed = 0
        for flavour, binary, rule in self._everywhere():
            if not belongs_to(rule.tag, owner_tag):
                continue
            deleted = self._run([binary, *WAIT, "-t", rule.table, "-D", rule.chain, *rule.spec])
            if deleted.returncode == 0:
                removed += 1
            else:
                log.warning("%s (%s) could not delete %s %s: %s", COMMANDS[rule.family], flavour,
                            rule.chain, " ".join(rule.spec), deleted.stderr.strip())
        return removed
