"""The embedded default stack: Open vSwitch, FAUCET and Gauge as supervised child processes."""
