"""iptables adapter: add dovesnap's rules once, find them again by comment, delete them.

Rules go to the flavour (nftables-backed or legacy) that Docker's own chains live in, so both
firewalls agree on what is forwarded; removal looks in every flavour present, so a rule is never
stranded when the host switched flavours in between. Only argv lists reach subprocesses.
Blocking calls; run them in a worker thread from asyncio.
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
from dovesnap.plan.firewall import FLAVOURS, Rule, belongs_to, choose_flavour, flavour_of_command

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
TABLES = ("nat", "filter")
LEGACY_TABLES = Path("/proc/net/ip_tables_names")
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


def parse_listing(table: str, text: str) -> list[Rule]:
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
            rules.append(Rule(table, words[1], tuple(words[2:])))
    return rules


class Iptables:
    """The host's iptables, through the ``iptables-nft``/``iptables-legacy`` commands."""

    def __init__(
        self,
        runner: Runner = run_argv,
        legacy_tables: Path = LEGACY_TABLES,
        which: Callable[[str], str | None] = shutil.which,
        resolve: Callable[[str], str] = os.path.realpath,
    ) -> None:
        self._run = runner
        self._legacy_tables = legacy_tables
        self._which = which
        self._resolve = resolve

    def _binary(self, flavour: str) -> str | None:
        return self._which(f"iptables-{flavour}")

    def _legacy_loaded(self, table: str) -> bool:
        # Listing a legacy table loads its kernel module; only look where Docker could have been.
        try:
            return table in self._legacy_tables.read_text().split()
        except OSError:
            return False

    def _present(self) -> dict[str, str]:
        """Flavour -> command, for the flavours this host has."""
        found = {f: b for f in FLAVOURS if (b := self._binary(f)) is not None}
        if not found:
            plain = self._which("iptables")
            if plain is None:
                raise BackendError(
                    "no iptables command on this host", "install iptables (nft or legacy)"
                )
            found[self._default_flavour(plain)] = plain
        return found

    def _default_flavour(self, plain: str) -> str:
        resolved = self._resolve(plain)
        version = ""
        if "nft" not in resolved and "legacy" not in resolved:
            version = self._run([plain, "--version"]).stdout
        return flavour_of_command(resolved, version)

    def _has_docker_chain(self, flavour: str, binary: str) -> bool:
        if flavour == "legacy" and not self._legacy_loaded("nat"):
            return False
        return self._run([binary, *WAIT, "-t", "nat", "-S", "DOCKER"]).returncode == 0

    def flavour(self) -> tuple[str, str]:
        """(flavour, command) dovesnap writes to now."""
        present = self._present()
        plain = self._which("iptables")
        alternative = self._default_flavour(plain) if plain else next(iter(present))
        docker = {f: self._has_docker_chain(f, b) for f, b in present.items()}
        chosen = choose_flavour(docker.get("nft", False), docker.get("legacy", False), alternative)
        if chosen not in present:
            chosen = next(iter(present))
        return chosen, present[chosen]

    def ensure(self, rules: Sequence[Rule]) -> str:
        """Add each rule unless it is there already; return the flavour used."""
        if not rules:
            return ""
        flavour, binary = self.flavour()
        for rule in rules:
            check = [binary, *WAIT, "-t", rule.table, "-C", rule.chain, *rule.spec]
            if self._run(check).returncode == 0:
                continue
            added = self._run([binary, *WAIT, "-t", rule.table, "-A", rule.chain, *rule.spec])
            if added.returncode != 0:
                raise BackendError(
                    f"iptables ({flavour}) refused a rule in {rule.table} {rule.chain} "
                    f"({' '.join(rule.spec)}): {added.stderr.strip()[:300]}",
                    "check that the iptables modules (comment, conntrack, addrtype) are available",
                )
        return flavour

    def _listing(self, binary: str, flavour: str) -> list[Rule]:
        rules: list[Rule] = []
        for table in TABLES:
            if flavour == "legacy" and not self._legacy_loaded(table):
                continue
            listed = self._run([binary, *WAIT, "-t", table, "-S"])
            if listed.returncode == 0:
                rules.extend(parse_listing(table, listed.stdout))
        return rules

    def owned(self, owner_tag: str) -> list[Rule]:
        """Every rule, in any flavour, whose comment belongs to ``owner_tag``."""
        found: list[Rule] = []
        for flavour, binary in self._present().items():
            found.extend(r for r in self._listing(binary, flavour) if belongs_to(r.tag, owner_tag))
        return found

    def tagged(self, prefix: str) -> list[Rule]:
        """Every rule, in any flavour, whose comment starts with ``prefix`` (all of dovesnap's,
        every instance's, with ``dovesnap:``)."""
        found: list[Rule] = []
        for flavour, binary in self._present().items():
            found.extend(r for r in self._listing(binary, flavour) if r.tag.startswith(prefix))
        return found

    def remove_owned(self, owner_tag: str) -> int:
        """Delete every rule, in any flavour, whose comment belongs to ``owner_tag``."""
        removed = 0
        for flavour, binary in self._present().items():
            for rule in self._listing(binary, flavour):
                if not belongs_to(rule.tag, owner_tag):
                    continue
                deleted = self._run([binary, *WAIT, "-t", rule.table, "-D", rule.chain, *rule.spec])
                if deleted.returncode == 0:
                    removed += 1
                else:
                    log.warning("iptables (%s) could not delete %s %s: %s", flavour,
                                rule.chain, " ".join(rule.spec), deleted.stderr.strip())
        return removed
