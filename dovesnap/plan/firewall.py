"""iptables rules as data, the tags that say whose they are, and which iptables flavour to use.

A rule is a table, a chain, the argv fragment after ``-A CHAIN`` and its address family (IPv4
rules go to ``iptables``, IPv6 rules to ``ip6tables``). Every rule dovesnap writes
carries a comment naming its network (and endpoint, for published ports), so dovesnap can always
find its own rules again, whatever flavour of iptables they landed in and whatever this version
of the planner would say. Pure: shared by the NAT feature (which plans rules), the iptables
adapter (which adds, finds and deletes them) and ``dovesnap cleanup``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TAG_PREFIX = "dovesnap:"
FLAVOURS = ("nft", "legacy")
IPV4, IPV6 = 4, 6
FAMILIES = (IPV4, IPV6)
COMMANDS = {IPV4: "iptables", IPV6: "ip6tables"}


@dataclass(frozen=True)
class Rule:
    table: str  # "nat" or "filter"
    chain: str  # "POSTROUTING", "FORWARD" ...
    spec: tuple[str, ...]  # everything after "-A CHAIN", comment included
    family: int = IPV4  # IPV4: iptables, IPV6: ip6tables

    @property
    def tag(self) -> str:
        return comment_of(self.spec) or ""


def network_tag(network_id: str) -> str:
    return TAG_PREFIX + network_id[:12]


def endpoint_tag(network_id: str, endpoint_id: str) -> str:
    return f"{network_tag(network_id)}:{endpoint_id[:12]}"


def belongs_to(tag: str, owner: str) -> bool:
    """Whether a rule's comment ``tag`` is ``owner``'s (a network owns its endpoints' rules)."""
    return tag == owner or tag.startswith(owner + ":")


def comment_of(spec: Sequence[str]) -> str | None:
    for index, word in enumerate(spec[:-1]):
        if word == "--comment":
            return spec[index + 1]
    return None


def comment_match(tag: str) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", tag)


# --- flavour -----------------------------------------------------------------------------------


def choose_flavour(docker_in_nft: bool, docker_in_legacy: bool, alternative: str) -> str:
    """The iptables flavour to write to: where Docker keeps its chains, else the host default.

    ``alternative`` is the flavour the plain ``iptables`` command uses on this host. When Docker's
    chains are in both (a host switched flavours and restarted Docker), the plain command is what
    Docker would pick now.
    """
    if docker_in_nft and not docker_in_legacy:
        return "nft"
    if docker_in_legacy and not docker_in_nft:
        return "legacy"
    return alternative if alternative in FLAVOURS else "nft"


def choose_ipv6_flavour(docker_in_nft: bool, docker_in_legacy: bool, ipv4_flavour: str) -> str:
    """The ip6tables flavour: where Docker keeps its IPv6 chains, else the IPv4 rules' flavour.

    Docker 20.10 writes no ip6tables rules unless its daemon.json sets ``ip6tables: true``; then
    its IPv6 chains are the firewall to agree with. Without them, both families of dovesnap's
    rules go to one flavour, the one Docker's IPv4 chains chose, so an operator who lists one
    flavour (``nft list ruleset`` or ``iptables-legacy-save``) sees them all.
    """
    if docker_in_nft != docker_in_legacy:
        return "nft" if docker_in_nft else "legacy"
    return ipv4_flavour if ipv4_flavour in FLAVOURS else "nft"


def flavour_of_command(resolved_path: str, version_text: str = "") -> str:
    """The flavour of an ``iptables`` binary from its resolved path, else its ``--version``."""
    name = resolved_path.rsplit("/", 1)[-1]
    if "legacy" in name:
        return "legacy"
    if "nft" in name:
        return "nft"
    return "nft" if "nf_tables" in version_text else "legacy"
