"""The managed plugin's config.json (``make plugin``): dovesnap packaged as a ``docker plugin``.

dockerd starts its managed plugins itself, before it restores containers, so containers on
dovesnap networks find their driver at boot without a systemd unit ordered before Docker.

The plugin runs the dovesnap image's root file system with the host's network and PID
namespaces, the capabilities and mounts ``docker-compose.yml`` gives the plugin container, and
every ``dovesnap serve`` setting that makes sense to change as a ``docker plugin set`` variable.

Names: Docker names a managed plugin's networks after the plugin (``NAME:TAG``, and ``-d NAME``
without the tag does not find a network plugin), and a managed plugin of the same name hides a
socket plugin. So the plugin is called ``dovesnap-plugin`` and also serves the socket plugin
``dovesnap`` (``ALIAS``) from inside, through the host's ``/run/docker/plugins``: ``docker network
create -d dovesnap`` keeps working, and networks made with the plugin's own name work too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from dovesnap import config

PLUGIN_NAME = "dovesnap-plugin"
ALIAS = config.DRIVER_NAME
HOST_PLUGINS = "/run/docker/host-plugins"  # the host's /run/docker/plugins, inside the plugin
OWN_SOCKET = "dovesnap.sock"  # in the plugin's /run/docker/plugins, which Docker provides
PATH = "/opt/dovesnap/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKER_SOCKET = config.DOCKER_URL.removeprefix("unix://")  # the host's, at the same path inside

# (mount name, host path, path in the plugin, propagation): each mount's source is settable.
MOUNTS = (
    ("faucet-config", str(config.FAUCET_CONFIG_DIR), str(config.FAUCET_CONFIG_DIR), ""),
    ("state", str(config.STATE_DIR), str(config.STATE_DIR), ""),
    ("logs", str(config.LOG_DIR), str(config.LOG_DIR), ""),
    ("openvswitch", str(config.OVS_RUN_DIR), str(config.OVS_RUN_DIR), ""),
    ("docker-socket", DOCKER_SOCKET, DOCKER_SOCKET, ""),
    ("host-plugins", str(config.PLUGIN_DIR), HOST_PLUGINS, ""),
    ("netns", "/var/run/docker/netns", "/var/run/docker/netns", "rslave"),
)
# Settings the plugin's layout decides (paths inside it); the others are `docker plugin set`.
FIXED = ("faucet-config-dir", "state-dir", "log-dir", "ovs-db-sock", "plugin-socket",
         "managed-socket", "docker-url")


def _env(name: str, value: str, description: str, settable: bool) -> dict[str, Any]:
    return {"name": name, "description": description, "settable": ["value"] if settable else [],
            "value": value}


def plugin_env(plugin_ref: str, alias: str) -> list[dict[str, Any]]:
    """The plugin's environment: the fixed layout, then every other serve setting, settable."""
    fixed = {
        "faucet-config-dir": str(config.FAUCET_CONFIG_DIR),
        "state-dir": str(config.STATE_DIR),
        "log-dir": str(config.LOG_DIR),
        "ovs-db-sock": str(config.OVS_DB_SOCK),
        "plugin-socket": f"{HOST_PLUGINS}/{alias}.sock",
        "managed-socket": f"{config.PLUGIN_DIR}/{OWN_SOCKET}",
        "docker-url": config.DOCKER_URL,
    }
    env = [_env("PATH", PATH, "where the image's programs are", False),
           _env("LANG", "C.UTF-8", "", False)]
    for name in config.SERVE_FLAGS:
        flag = config.FLAGS[name]
        if not flag.env:
            continue
        if name in FIXED:
            env.append(_env(flag.env, fixed[name], flag.help, False))
        elif name == "driver-aliases":
            env.append(_env(flag.env, plugin_ref, flag.help + "; this plugin's NAME:TAG", True))
        else:
            default = flag.default
            value = ("1" if default else "") if isinstance(default, bool) else str(default)
            env.append(_env(flag.env, value, flag.help, True))
    return env


def plugin_config(plugin_ref: str = f"{PLUGIN_NAME}:latest", alias: str = ALIAS,
                  netns_propagation: str = "rslave") -> dict[str, Any]:
    """config.json of the managed plugin ``plugin_ref`` that also serves ``-d alias``.

    ``netns_propagation``: rslave lets the plugin see the network namespaces of containers
    started after it (DHCP networks need them); "" where the host's / is not a shared mount.
    """
    mounts = []
    for name, source, destination, propagation in MOUNTS:
        propagation = netns_propagation if propagation else ""
        options = ["rbind", "rw", *([propagation] if propagation else [])]
        mounts.append({"name": name, "description": f"{source} of the host",
                       "source": source, "destination": destination, "type": "bind",
                       "options": options, "settable": ["source"]})
    return {
        "description": "dovesnap: Docker networks on Open vSwitch bridges under FAUCET",
        "documentation": "https://github.com/iqtlabs/dovesnap",
        "entrypoint": ["/usr/local/bin/dovesnap-entrypoint", "serve"],
        "workdir": "/",
        "interface": {"types": ["docker.networkdriver/1.0"], "socket": OWN_SOCKET},
        "network": {"type": "host"},
        "pidhost": True,
        "linux": {
            "capabilities": ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
            "devices": [{"path": "/dev/net/tun"}],
        },
        "mounts": mounts,
        "env": plugin_env(plugin_ref, alias),
        "args": {"name": "args", "description": "extra dovesnap serve flags, e.g. --debug",
                 "settable": ["value"], "value": []},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dovesnap.tools.managed_plugin",
                                     description="print the managed plugin's config.json")
    parser.add_argument("--name", default=PLUGIN_NAME, help="the plugin's name (NAME[:TAG])")
    parser.add_argument("--alias", default=ALIAS,
                        help="socket plugin name it also serves, for -d ALIAS (default dovesnap)")
    parser.add_argument("--netns-propagation", default="rslave", choices=("rslave", ""),
                        help="'' where / is not a shared mount (no systemd)")
    args = parser.parse_args(argv)
    ref = args.name if ":" in args.name.rsplit("/", 1)[-1] else f"{args.name}:latest"
    json.dump(plugin_config(ref, args.alias, args.netns_propagation), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
