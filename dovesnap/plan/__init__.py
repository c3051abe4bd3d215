"""Pure planning: desired OVS, FAUCET and host state computed from the model, no I/O."""
