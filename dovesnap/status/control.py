"""``POST /policy`` on the status port: change a running container's ACL or mirroring.

What ``dovesnap acl set`` and ``dovesnap mirror`` send. A client must be inside both
``--status-auth-ips`` (the status server's own check) and ``--control-auth-ips`` (loopback by
default), and must send ``Content-Type: application/json``: a web page cannot send that to
another origin without the browser asking first (a CORS preflight, which this server never
answers), so a page the operator happens to visit cannot change policy.

The body::

    {"container": "web", "network": "lab",          # network: optional when only one
     "acls": ["allowall"], "mirror": true,          # what to set (either or both)
     "clear": ["acls", "mirror"]}                   # or: hand back to labels and options
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from dovesnap.driver.core import Driver
from dovesnap.driver.port_policy import PolicyChange, change_policy
from dovesnap.errors import ConflictError, DovesnapError, NotFoundError, RequestError
from dovesnap.model.names import ACL_NAME_RE
from dovesnap.status.server import IPNetwork, allowed

log = logging.getLogger(__name__)

SETTINGS = ("acls", "mirror")
MAX_BODY = 64 * 1024


def _text(body: Mapping[str, Any], key: str, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{key} must be a non-empty string")
    return value.strip()


def parse_policy_request(body: Any) -> tuple[str, str | None, PolicyChange]:
    """(container, network or None, change) from a request body; RequestError if malformed."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    unknown = set(body) - {"container", "network", "acls", "mirror", "clear"}
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    container = _text(body, "container", True)
    assert container is not None
    network = _text(body, "network", False)
    acls = body.get("acls")
    if acls is not None:
        if (not isinstance(acls, list) or not acls
                or not all(isinstance(a, str) and ACL_NAME_RE.match(a) for a in acls)):
            raise RequestError("acls must be a list of ACL names (letters, digits, '.', '_', '-')")
        acls = tuple(acls)
    mirror = body.get("mirror")
    if mirror is not None and not isinstance(mirror, bool):
        raise RequestError("mirror must be true or false")
    clear = body.get("clear") or []
    if not isinstance(clear, list) or not all(c in SETTINGS for c in clear):
        raise RequestError(f"clear must be a list of {' and '.join(SETTINGS)}")
    if ("acls" in clear and acls is not None) or ("mirror" in clear and mirror is not None):
        raise RequestError("a setting cannot be set and cleared at once")
    if acls is None and mirror is None and not clear:
        raise RequestError("nothing to change: give acls, mirror or clear")
    return container, network, PolicyChange(acls, mirror, tuple(clear))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def policy_routes(driver: Driver, control: Sequence[IPNetwork]) -> Callable[[web.Application], None]:
    """The ``extra_routes`` part that serves ``POST /policy``."""

    async def policy(request: web.Request) -> web.Response:
        if not allowed(request.remote, control):
            return _error(403, "forbidden: this client is not in --control-auth-ips")
        if request.content_type != "application/json":
            return _error(415, "send the body as Content-Type: application/json")
        raw = await request.content.read(MAX_BODY + 1)
        try:
            if len(raw) > MAX_BODY:
                raise RequestError(f"the body is larger than {MAX_BODY} bytes")
            try:
                body = json.loads(raw)
            except ValueError as err:
                raise RequestError(f"the body is not JSON: {err}") from None
            container, network, change = parse_policy_request(body)
            ports = await change_policy(driver, container, network, change)
        except RequestError as err:
            return _error(400, err.message)
        except NotFoundError as err:
            return _error(404, err.message)
        except ConflictError as err:
            return _error(409, err.message)
        except DovesnapError as err:
            log.error("policy change refused: %s", err.message)
            return _error(500, err.message)
        return web.json_response({"ports": ports})

    def add(app: web.Application) -> None:
        app.router.add_post("/policy", policy)

    return add
