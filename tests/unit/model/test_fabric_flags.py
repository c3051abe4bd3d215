"""The daemon's mirror and stacking flags: parsed once, each mistake named by its flag."""

from __future__ import annotations

import pytest

from dovesnap.errors import FlagError
from dovesnap.model.fabric_flags import MirrorFlags, StackLinkRequest, StackMirrorTarget, parse_fabric_flags

CTRL = "tcp:127.0.0.1:6653,tcp:127.0.0.1:6654"


def test_no_flags_no_features() -> None:
    flags = parse_fabric_flags()
    assert flags.mirror is None and flags.stack is None


def test_mirror_flags() -> None:
    flags = parse_fabric_flags(mirror_bridge_out="odsmirrori", mirror_bridge_in="eth77")
    assert flags.mirror == MirrorFlags("odsmirrori", "eth77")
    assert flags.stack is None


def test_stack_flags() -> None:
    flags = parse_fabric_flags(
        stacking_interfaces="odsrootsw:7:rootext, other:0x10:eth2", stack_priority1="odsrootsw",
        stack_mirror_interface="odsrootsw:88", default_ofcontrollers=CTRL,
    )
    assert flags.stack is not None
    assert flags.stack.links == (StackLinkRequest("odsrootsw", 7, "rootext"),
                                 StackLinkRequest("other", 16, "eth2"))
    assert flags.stack.priority1 == "odsrootsw"
    assert flags.stack.mirror == StackMirrorTarget("odsrootsw", 88)
    assert flags.stack.controllers == tuple(CTRL.split(","))


@pytest.mark.parametrize(("kwargs", "flag", "words"), [
    ({"mirror_bridge_in": "eth1"}, "mirror-bridge-in", "needs --mirror-bridge-out"),
    ({"mirror_bridge_out": "eth1", "mirror_bridge_in": "eth1"}, "mirror-bridge-in", "differ"),
    ({"mirror_bridge_out": "eth1; rm"}, "mirror-bridge-out", "not an interface name"),
    ({"stacking_interfaces": "root:7:eth1"}, "default-ofcontrollers", "required"),
    ({"stacking_interfaces": "root:7", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "DP:PORT:IF"),
    ({"stacking_interfaces": "root:x:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "not a port number"),
    ({"stacking_interfaces": "root:0:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "out of range"),
    ({"stacking_interfaces": "root:7:eth1,r2:8:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "listed twice"),
    ({"stacking_interfaces": "ro ot:7:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "not a FAUCET DP name"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": "tcp:nowhere"},
     "default-ofcontrollers", "not a controller"),
    ({"stack_priority1": "root"}, "stack-priority1", "needs --stacking-interfaces"),
    ({"stack_mirror_interface": "root:88"}, "stack-mirror-interface", "needs --stacking"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": CTRL,
      "stack_mirror_interface": "root"}, "stack-mirror-interface", "DP:PORT"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": CTRL,
      "stack_mirror_interface": "root:88", "mirror_bridge_out": "eth2"},
     "stack-mirror-interface", "cannot be used with --mirror-bridge-out"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": CTRL,
      "mirror_bridge_out": "eth1"}, "stacking-interfaces", "also a mirror bridge interface"),
])
def test_bad_flags_name_the_flag(kwargs: dict[str, str], flag: str, words: str) -> None:
    with pytest.raises(FlagError) as caught:
        parse_fabric_flags(**kwargs)
    assert caught.value.flag == flag
    assert f"--{flag}" in caught.value.message
    assert words in caught.value.message


def test_stacking_without_controllers_uses_the_embedded_faucet_and_gauge() -> None:
    embedded = ("tcp:127.0.0.1:7653", "tcp:127.0.0.1:7654")
    flags = parse_fabric_flags(stacking_interfaces="root:7:eth1", embedded_controllers=embedded)
    assert flags.stack is not None and flags.stack.controllers == embedded
    # Given controllers win over the embedded ones.
    flags = parse_fabric_flags(stacking_interfaces="root:7:eth1", default_ofcontrollers=CTRL,
                               embedded_controllers=embedded)
    assert flags.stack is not None and flags.stack.controllers == tuple(CTRL.split(","))


def test_mirror_bridge_and_plain_stacking_go_together() -> None:
    flags = parse_fabric_flags(mirror_bridge_out="eth2", stacking_interfaces="root:7:eth1",
                               default_ofcontrollers=CTRL)
    assert flags.mirror is not None and flags.stack is not None
