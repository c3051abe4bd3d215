"""The libnetwork remote driver HTTP API: handlers and request schemas, no business logic."""
