"""faucet.yaml text <-> data: quotes, comments and indentation kept; parse errors with the line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_yaml import Indent, YamlCodec, guess_indent, plain
from dovesnap.errors import FaucetConfigError, FaucetFileError
from dovesnap.plan.faucet_dp import put_dp

SOURCE = Path("/etc/faucet/faucet.yaml")

QUOTED = """\
acls:
  by-mac:     # the lab's gateway
  - rule:
      eth_src: "0e:00:00:00:10:01"
      actions: {allow: 1}
  - rule:
      dl_type: '0x800'
      actions:
        allow: 0
"""


def test_round_trip_keeps_quotes_comments_flow_style_and_indentation() -> None:
    codec = YamlCodec()
    config = codec.load(QUOTED, SOURCE)
    assert codec.dump(config) == QUOTED
    written = codec.dump(put_dp(config, "net1", {"dp_id": 1, "interfaces": {1: {"native_vlan": 100}}}))
    assert written.startswith(QUOTED)
    # a YAML 1.1 reader sees the MAC as a string, not a number
    assert yaml.safe_load(written)["acls"]["by-mac"][0]["rule"]["eth_src"] == "0e:00:00:00:10:01"


@pytest.mark.parametrize(("text", "indent"), [
    ("a:\n  b:\n  - c\n", Indent(2, 2, 0)),
    ("a:\n  b:\n    - c\n", Indent(2, 4, 2)),
    ("a:\n    b:\n        - c\n", Indent(4, 6, 4)),
    ("a:\n   b: 1\n", Indent(3, 4, 2)),
    ("# only a comment\n", Indent()),
    ("a:\n  # comment first\n  b:\n  - 1\n", Indent(2, 2, 0)),
])
def test_guess_indent(text: str, indent: Indent) -> None:
    assert guess_indent(text) == indent


@pytest.mark.parametrize(("text", "where"), [
    ("acls:\n  a: [\n", "line 3"),
    ("dps: 1\ndps: 2\n", "line 2"),
    ("acls:\n  a: 1\n\tb: 2\n", "line 3"),
])
def test_parse_errors_name_the_line_and_are_dovesnap_errors(text: str, where: str) -> None:
    with pytest.raises(FaucetFileError, match=where) as caught:
        YamlCodec().load(text, SOURCE)
    assert isinstance(caught.value, FaucetConfigError)
    assert "faucet.yaml.dovesnap-bak" in caught.value.fix


@pytest.mark.parametrize("text", ["- a list\n", "just text\n"])
def test_a_file_that_is_no_mapping_is_refused(text: str) -> None:
    with pytest.raises(FaucetFileError, match="mapping"):
        YamlCodec().load(text, SOURCE)


def test_plain_turns_round_trip_types_into_base_types() -> None:
    loaded: Any = YamlCodec().load("a: 0x10\nb: 'x'\nc: true\nd: [1.5, ~]\n1: {e: false, f: no}\n", SOURCE)
    converted = plain(loaded)
    assert converted == {"a": 16, "b": "x", "c": True, "d": [1.5, None], 1: {"e": False, "f": "no"}}
    assert [type(v) for v in converted.values()] == [int, str, bool, list, dict]
    assert yaml.safe_load(yaml.dump(converted, Dumper=yaml.CSafeDumper)) == converted


def test_a_dumped_config_copied_later_keeps_its_comments() -> None:
    # The store keeps the config it wrote and edits copies of it (operator DP merges deep-copy).
    text = ("# the operator's\nacls:\n  # allow everything\n  allowall:\n    - rule:\n"
            "        actions: {allow: 1}\n")
    codec = YamlCodec()
    config = codec.load(text, SOURCE)
    assert codec.dump(config) == text
    assert codec.dump(copy.deepcopy(config)) == text
