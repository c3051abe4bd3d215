"""The one exception family of dovesnap.

Every error carries a message that says what is wrong and, where there is one, how to fix it.
The plugin API turns these into ``{"Err": message}`` replies, which the docker CLI prints.
"""

from __future__ import annotations


class DovesnapError(Exception):
    """Base of every error dovesnap raises on purpose."""

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.fix:
            return f"dovesnap: {self.what}; {self.fix}"
        return f"dovesnap: {self.what}"


class OptionError(DovesnapError):
    """A network option (``-o ovs.bridge.*``) is missing or invalid."""

    def __init__(self, option: str, reason: str, fix: str = "") -> None:
        self.option = option
        super().__init__(f"option {option}: {reason}", fix)


class LabelError(DovesnapError):
    """A container label (``dovesnap.faucet.*``) is malformed."""

    def __init__(self, label: str, reason: str) -> None:
        self.label = label
        super().__init__(f"label {label}: {reason}")


class RequestError(DovesnapError):
    """A plugin API request body does not match its schema."""


class NotFoundError(DovesnapError):
    """A network or endpoint that a request names is unknown."""


class ConflictError(DovesnapError):
    """The request clashes with existing state (for example a duplicate dpid)."""


class NameTakenError(ConflictError):
    """An interface name dovesnap wanted is already in use on the host."""


FAUCET_REJECTS = "FAUCET rejects the configuration: "


class FaucetConfigError(DovesnapError):
    """FAUCET's own parser rejected a candidate configuration."""

    @classmethod
    def rejected(cls, reason: str, fix: str = "") -> FaucetConfigError:
        """The error for FAUCET's refusal ``reason`` (its own words)."""
        return cls(FAUCET_REJECTS + reason, fix)

    @property
    def refusal(self) -> str:
        """FAUCET's own words, without dovesnap's lead-in (the whole text for other errors)."""
        return self.what.removeprefix(FAUCET_REJECTS)


class FaucetConfigUnavailable(DovesnapError):
    """FAUCET's config could not be read or changed at all: the faucetconfrpc server is down, our
    certificate was refused, a reply was malformed. Nothing was changed; ports wait, closed."""


class BackendError(DovesnapError):
    """OVS, netlink, Docker or a child process failed underneath an operation."""


class FlagError(DovesnapError):
    """A daemon flag (``dovesnap serve --...``) is invalid or inconsistent with another."""

    def __init__(self, flag: str, reason: str, fix: str = "") -> None:
        self.flag = flag
        super().__init__(f"flag --{flag}: {reason}", fix)
