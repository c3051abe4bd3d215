"""Thin adapters to the outside world: OVSDB, netlink, Docker, FAUCET config, iptables."""
