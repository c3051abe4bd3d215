"""iptables rules as data, the tags that say whose they are, and which iptables flavour to use.

A rule is a table, a chain and the argv fragment after ``-A CHAIN``. Every rule dovesnap writes
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


@dataclass(frozen=True)
class Rule:
    table: str  # "nat" or "filter"
    chain: str  # "POSTROUTING", "FORWARD" ...
    spec: tuple[str, ...]  # everything after "-A CHAIN", comment included

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


def flavour_of_command(resolved_path: str, version_text: str = "") -> str:
    """The flavour of an ``iptables`` binary from its resolved path, else its ``--version``."""
    name = resolved_path.rsplit("/", 1)[-1]
    if "legacy" in name:
        return "legacy"
    if "nft" in name:
        return "nft"
    return "nft" if "nf_tables" in version_text else "legacy"
