"""Smoke check of a newer Docker engine: start it, check it as README.md says, stop it, check
that nothing is left. ``sudo .venv/bin/python -m tests.engines.smoke sid --min-api 1.44``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from tests.engines import engine
from tests.engines.engine import (
    SUITES,
    busybox_image,
    http_get,
    leftover_mounts,
    leftover_processes,
    newer_engine,
    run_dir,
    socket_path,
)


def smoke_check(name: str, min_api: str | None) -> dict[str, Any]:
    """Start the engine, check it as README.md says, stop it, check nothing is left."""
    import docker

    found: dict[str, Any] = {}
    with newer_engine(name, min_api) as url:
        sock = socket_path(name)
        version = http_get(sock, "/version")[1]
        found["version"] = {k: version.get(k) for k in ("Version", "ApiVersion", "MinAPIVersion")}
        found["v1.41"] = http_get(sock, "/v1.41/version")
        oldest = version["MinAPIVersion"]
        found[f"v{oldest}"] = http_get(sock, f"/v{oldest}/version")[0]
        started = time.monotonic()
        image = busybox_image(url, name)
        found["import_s"] = round(time.monotonic() - started, 2)
        client = docker.DockerClient(base_url=url, version="auto")
        started = time.monotonic()
        script = "echo hello; /bin/busybox ip -o link"
        out = client.containers.run(image, ["/bin/busybox", "sh", "-c", script],
                                    network_mode="none", remove=True)
        found["run_s"] = round(time.monotonic() - started, 2)
        found["run_output"] = out.decode().split("\n")
        box = client.containers.run(image, ["/bin/busybox", "sleep", "60"], network_mode="none",
                                    detach=True)
        found["exec"] = box.exec_run(["/bin/busybox", "echo", "exec ok"]).output.decode().strip()
        box.remove(force=True)
        client.close()
    found["times"] = {"debootstrap": round(engine.LAST_TIMES.debootstrap, 1),
                      "containerd_start": round(engine.LAST_TIMES.containerd_start, 2),
                      "dockerd_start": round(engine.LAST_TIMES.dockerd_start, 2),
                      "stop": round(engine.LAST_TIMES.stop, 2)}
    found["leftover_processes"] = leftover_processes(name)
    found["leftover_mounts"] = leftover_mounts(name)
    found["run_dir_left"] = run_dir(name).exists() or socket_path(name).exists()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description="smoke check of a newer Docker engine")
    parser.add_argument("name", choices=SUITES)
    parser.add_argument("--min-api", default=None, help="DOCKER_MIN_API_VERSION, e.g. 1.44")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    found = smoke_check(args.name, args.min_api)
    print(json.dumps(found, indent=2))
    clean = not (found["leftover_processes"] or found["leftover_mounts"] or found["run_dir_left"])
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
