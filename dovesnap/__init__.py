"""dovesnap: a Docker network plugin for Open vSwitch bridges controlled by FAUCET."""

__version__ = "0.1.0"
