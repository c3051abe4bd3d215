# dovesnap: operator and developer entry points (as root, or with sudo).
#
#   make up      install what is missing, start dovesnap (and dockerd if needed)
#   make down    stop dovesnap (and dockerd, if `make up` started it)
#   make test    lint, type check, unit tests with coverage, integration tests
#
# Daemon settings pass through as variables, e.g. `make up MIRROR_BRIDGE_OUT=eno99`
# (sudo drops the caller's environment; variables on make's command line reach the scripts).

VENV ?= $(CURDIR)/.venv
export VENV

SCRIPTS := $(CURDIR)/scripts
LINT_PATHS := $(wildcard dovesnap tests bench)

.DEFAULT_GOAL := help
.PHONY: help up down test lint unit install-deps venv clean install uninstall plugin

help:
	@echo "(up, down, test, install-deps, install, uninstall: as root, or with sudo)"
	@echo "make up                 start dovesnap (installs missing packages, starts dockerd if needed)"
	@echo "make down               stop dovesnap, and dockerd if 'make up' started it"
	@echo "make test               ruff, mypy, unit tests + coverage floor, integration tests"
	@echo "make install-deps       install missing system packages and the venv (TEST=1: test tools too)"
	@echo "make venv               create/update the venv $(VENV) with the test extras (no root)"
	@echo "make lint               ruff + mypy"
	@echo "make unit               unit tests"
	@echo "make clean              remove the venv, caches and coverage data"
	@echo "make install            install the systemd service (venv in /opt/dovesnap; FORCE=1 upgrades)"
	@echo "make uninstall          remove the service (PURGE=1 also removes /etc/dovesnap/service.env)"
	@echo "make plugin             make the managed Docker plugin dovesnap-plugin from IMAGE (dovesnap:latest)"

up:
	bash "$(SCRIPTS)/up.sh"

down:
	bash "$(SCRIPTS)/down.sh"

test:
	bash "$(SCRIPTS)/test.sh"

# PREFIX, SYSCONFDIR, UNITDIR and DESTDIR given on the command line reach the scripts.
install:
	bash "$(SCRIPTS)/install.sh" $(if $(filter 1 yes true,$(FORCE)),--force)

uninstall:
	bash "$(SCRIPTS)/uninstall.sh" $(if $(filter 1 yes true,$(PURGE)),--purge)

# IMAGE, PLUGIN_NAME, PLUGIN_ALIAS, NETNS_PROPAGATION, FORCE and PLUGIN_DIR on the command line reach it.
plugin:
	bash "$(SCRIPTS)/plugin.sh"

install-deps:
	bash "$(SCRIPTS)/deps.sh" $(if $(filter 1 yes true,$(TEST)),--test)

venv:
	bash "$(SCRIPTS)/deps.sh" --venv-only --test

lint: venv
	"$(VENV)/bin/ruff" check $(LINT_PATHS)
	"$(VENV)/bin/mypy"

unit: venv
	"$(VENV)/bin/pytest" tests/unit

clean:
	@bash "$(SCRIPTS)/lib.sh" clean refuse_if_up "make clean"
	@if [ -f "$(VENV)/pyvenv.cfg" ]; then echo "rm -rf $(VENV)"; rm -rf -- "$(VENV)"; fi
	rm -rf -- .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache .hypothesis build test-artifacts dovesnap.egg-info
	find . -name .venv -prune -o -name __pycache__ -type d -prune -exec rm -rf -- {} +
