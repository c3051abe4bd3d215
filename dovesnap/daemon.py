"""``dovesnap serve``: wire the adapters together, start the stack, serve Docker and status."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dovesnap.adapters.docker_api import DockerSdkBackend
from dovesnap.adapters.docker_events import DockerEventWatcher
from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.adapters.faucet_logs import FaucetExceptionLog
from dovesnap.adapters.faucet_metrics import FaucetMetricsPage
from dovesnap.adapters.faucet_rpc import RemoteFaucetConfig
from dovesnap.adapters.faucet_store import FaucetStore, Validator
from dovesnap.adapters.faucetconfrpc_client import FaucetConfRpcClient
from dovesnap.adapters.file_watch import FileWatch
from dovesnap.adapters.netlink import PyRoute2Netlink
from dovesnap.adapters.openflow import OfctlOpenFlow
from dovesnap.adapters.ovsdb import OvsdbBackend
from dovesnap.api.handlers import make_app
from dovesnap.api.sockets import PluginSockets
from dovesnap.blocking import run_blocking
from dovesnap.config import (
    STATUS_HEADER_TIMEOUT,
    STATUS_IDLE_TIMEOUT,
    STATUS_MAX_CONNECTIONS,
    STATUS_MAX_HEADER_BYTES,
    ServeSettings,
    default_controllers,
    faucet_metrics_url,
)
from dovesnap.driver.config_watch import ConfigWatch
from dovesnap.driver.context import FeatureContext
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.faucet_health import FaucetHealth
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.driver.recovery import Recovery
from dovesnap.driver.reinstall import reinstall_port
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.errors import DovesnapError, FaucetConfigUnavailable
from dovesnap.features.events import recovery_notifier
from dovesnap.features.registry import build_features
from dovesnap.runtime.engine import determine_engine_id
from dovesnap.runtime.faucet import (
    EmbeddedControllers,
    gauge_config,
    gauge_metrics_addresses,
    is_loopback,
    is_starter_gauge_config,
    prepare_config,
    starter_faucet_config,
)
from dovesnap.runtime.ovs import OwnOvs, db_answers, kernel_datapath_available
from dovesnap.status.control import policy_routes
from dovesnap.status.gate import Limits
from dovesnap.status.observe import Observability
from dovesnap.status.report import status
from dovesnap.status.server import listen_hosts, make_status_app, parse_auth_ips, serve_gated

log = logging.getLogger(__name__)

FD_LIMIT_CAP = 1 << 20  # the soft limit when the hard one is unlimited (Linux's nr_open)
STATUS_LIMITS = Limits(STATUS_MAX_CONNECTIONS, STATUS_HEADER_TIMEOUT, STATUS_IDLE_TIMEOUT,
                       STATUS_MAX_HEADER_BYTES)



class Daemon:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.own_ovs: OwnOvs | None = None
        self.controllers: EmbeddedControllers | None = None
        self.ovs: OvsdbBackend | None = None
        self.ovs_changes = OvsChanges()  # OVSDB notifications, for features to subscribe
        self.driver: Driver | None = None
        self.runners: list[web.AppRunner] = []
        self.status_servers: list[asyncio.AbstractServer] = []
        self.engine_id = ""
        self.checker: FaucetCheckProcess | None = None
        self.store: FaucetConfigStore | None = None
        self.observe = Observability()  # metrics, events, status page
        self.events: DockerEventWatcher | None = None
        self.recovery: Recovery | None = None
        self.health: FaucetHealth | None = None
        self.config_watch: ConfigWatch | None = None
        self.rpc: FaucetConfRpcClient | None = None
        self.sockets = PluginSockets(settings.plugin_sockets)

    async def _start_ovs(self) -> OvsdbBackend:
        sock = self.settings.ovs_db_sock
        own = OwnOvs(self.settings.state_dir / "ovs", sock)
        if own.running_earlier():
            log.info("adopting the Open vSwitch an earlier dovesnap started")
            self.own_ovs = own
            await own.start()
        elif await run_blocking(db_answers, sock):
            log.info("using the host's Open vSwitch at %s", sock)
        else:
            log.info("no Open vSwitch answers at %s: starting dovesnap's own", sock)
            self.own_ovs = own
            await own.start()
        return await run_blocking(
            OvsdbBackend, f"unix:{sock}", 10.0, self.ovs_changes.notify, skip_volatile=True
        )

    async def _prepare_faucet(self, store: FaucetConfigStore) -> None:
        settings = self.settings
        for source, kept in await prepare_config(store, settings.gauge_prom_port):
            log.warning("%s is FAUCET's untouched example (its package install puts it there): "
                        "kept as %s; dovesnap's starter config takes its place", source,
                        kept or "the identical copy beside it")
        gauge_store = FaucetConfigStore(settings.faucet_config_dir / "gauge.yaml",
                                        lambda _path: None, lambda: None)
        wanted = gauge_config(store.path, settings.gauge_prom_port, settings.controller_listen)
        if await gauge_store.ensure_exists(wanted):
            return
        existing = await run_blocking(gauge_store.read)
        if is_starter_gauge_config(existing, store.path):
            # dovesnap's own file (older ones served metrics on 0.0.0.0): follow the settings.
            if await gauge_store.update(lambda _old: wanted):
                log.info("%s: dovesnap's starter file updated to serve metrics on %s:%d",
                         gauge_store.path, settings.controller_listen, settings.gauge_prom_port)
            return
        for address in gauge_metrics_addresses(existing):
            if not is_loopback(address):
                log.warning("%s (yours, left as it is) has Gauge serve metrics on %s: anything "
                            "that reaches this host, containers on nat and routed networks too, "
                            "can read them; set prometheus_addr: 127.0.0.1 unless a remote "
                            "Prometheus needs them", gauge_store.path, address)

    async def _remote_faucet(self, validator: Validator) -> RemoteFaucetConfig:
        """The config behind faucetconfrpc; waits for the server as --faucetconfrpc-connretries
        says, then starts anyway: ports wait, closed, until the server answers."""
        rpc_settings = self.settings.faucetconfrpc
        assert rpc_settings is not None
        self.rpc = FaucetConfRpcClient(rpc_settings)
        store = RemoteFaucetConfig(self.rpc, validator)
        tries = max(1, rpc_settings.conn_retries)
        for attempt in range(1, tries + 1):
            try:
                await store.ensure_exists(starter_faucet_config())
                log.info("FAUCET's config is edited through %s", store.describe())
                return store
            except FaucetConfigUnavailable as err:
                if attempt == tries:
                    log.error("%s; starting anyway", err.message)
                else:
                    log.warning("%s (try %d of %d)", err.what, attempt, tries)
                    await asyncio.sleep(2.0)
        return store

    async def start(self) -> None:
        settings = self.settings
        self.sockets.bind()  # Docker may connect now; answered once the driver is ready
        self.ovs = await self._start_ovs()
        kernel = kernel_datapath_available()
        if settings.embedded_faucet:
            self.controllers = EmbeddedControllers(
                settings.faucet_config_dir,
                settings.log_dir,
                (settings.faucet_of_port, settings.gauge_of_port),
                settings.faucet_prom_port,
                run_dir=settings.state_dir,
                listen=settings.controller_listen,
            )
        controllers = self.controllers

        def reload() -> None:
            if controllers is not None:
                controllers.reload()

        self.checker = FaucetCheckProcess()
        validator = self.observe.metrics.timed_validator(self.checker)
        store: FaucetStore
        local: FaucetConfigStore | None = None
        if settings.faucetconfrpc is not None:
            store = await self._remote_faucet(validator)
        else:
            local = FaucetConfigStore(settings.faucet_config_dir / "faucet.yaml", validator, reload,
                                      marker=settings.state_dir / "faucet-written.sha256")
            self.store = local
            await self._prepare_faucet(local)
            store = local
        if controllers is not None:
            controllers.start()
        docker = DockerSdkBackend(settings.docker_url, driver_name=settings.driver_name,
                                  aliases=settings.driver_aliases)
        self.engine_id = await determine_engine_id(docker)  # daemon bridges are named after it
        driver = Driver(
            DriverSettings(
                default_controllers(settings),
                kernel_datapath=kernel,
                driver_name=settings.driver_name,
            ),
            self.ovs, PyRoute2Netlink(), docker, store,
        )
        driver.attach_hooks(build_features(self._feature_context(driver)))
        self.driver = driver
        self._watch_faucet(driver, local, reload)
        for hook in driver.hooks:
            await hook.daemon_started()
        await restore_from_ovs(driver)
        assert self.health is not None
        self.health.start()
        if self.config_watch is not None:
            self.config_watch.start()
        self.events = DockerEventWatcher(
            settings.docker_url, asyncio.get_running_loop(), driver.note_connect
        )
        self.events.start()
        self.recovery = Recovery(
            driver, docker, self.ovs_changes, recovery_notifier(self.observe.bus.publish)
        )
        self.recovery.start()
        await self._serve_plugin(driver)
        await self._serve_status(driver)

    def _watch_faucet(self, driver: Driver, local: FaucetConfigStore | None,
                      reload: Callable[[], None]) -> None:
        """Confirm FAUCET applies each change (and say why not); re-sync when faucet.yaml (a
        local one) changes, so a fixed file heals every port."""
        settings = self.settings
        openflow = OfctlOpenFlow()
        self.health = FaucetHealth(
            lambda: driver.networks, local.path if local is not None else None,
            FaucetMetricsPage(faucet_metrics_url(settings)) if self.controllers else None,
            openflow,
            FaucetExceptionLog(settings.log_dir / "faucet_exception.log")
            if self.controllers else None,
            self.observe.bus.publish,
            reinstall=lambda net, ep: reinstall_port(driver, net, ep, 5.0),
            announce=openflow.announce_port,
        )
        driver.notify = self.observe.bus.publish
        driver.port_forwarding = self.health.wait_flows
        driver.faucet_loaded = self.health.wait_loaded
        driver.dp_sync.on_synced.append(self.health.changed)
        if local is not None:
            self.config_watch = ConfigWatch(driver, local.path, FileWatch, reload)

    def _feature_context(self, driver: Driver) -> FeatureContext:
        settings = self.settings
        return FeatureContext(
            driver=driver,
            ovs_changes=self.ovs_changes,
            publish=self.observe.bus.publish,
            engine_id=self.engine_id,
            state_dir=settings.state_dir,
            docker_url=settings.docker_url,
            fabric=settings.fabric,  # parsed once, by the command line
            faucet_metrics_url=faucet_metrics_url(settings),
            hostname=socket.gethostname(),
            spare_ports=settings.spare_ports,
        )

    async def _serve_plugin(self, driver: Driver) -> None:
        runner = web.AppRunner(make_app(driver, self.observe.metrics.observe_api), access_log=None)
        await runner.setup()
        self.runners.append(runner)
        await self.sockets.serve(runner)

    async def _serve_status(self, driver: Driver) -> None:
        """The status server; if it cannot listen, dovesnap says so and serves Docker anyway."""
        settings = self.settings
        auth = parse_auth_ips(settings.status_auth_ips)

        def get_status() -> dict[str, Any]:
            return status(driver.networks, self.engine_id, driver.hooks)

        observe = self.observe.routes(get_status, driver, lambda: self.engine_id)
        control = policy_routes(driver, parse_auth_ips(self.settings.control_auth_ips))

        def routes(app: web.Application) -> None:
            observe(app)
            control(app)

        app = make_status_app(get_status, auth, routes)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=STATUS_IDLE_TIMEOUT)
        await runner.setup()
        self.runners.append(runner)
        hosts = listen_hosts(settings.status_listen, auth)
        where = ", ".join(hosts) if hosts else "every address"
        try:
            _gate, self.status_servers = await serve_gated(
                runner, hosts, settings.status_port, auth, STATUS_LIMITS)
        except OSError as err:
            log.error("no status server: cannot listen on port %d (%s): %s; the plugin serves "
                      "Docker all the same", settings.status_port, where, err.strerror or err)
            return
        log.info("status on port %d (%s)", settings.status_port, where)

    async def stop(self) -> None:
        for server in self.status_servers:
            server.close()
        self.status_servers.clear()
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()
        self.sockets.close()
        if self.events is not None:
            self.events.stop()
        if self.recovery is not None:
            await self.recovery.stop()
        if self.config_watch is not None:
            await self.config_watch.stop()
        if self.health is not None:
            await self.health.stop()
        if self.driver is not None:
            await self.driver.close()
            for hook in reversed(self.driver.hooks):
                await hook.daemon_stopping()
        if self.store is not None:
            await self.store.close()
        if self.controllers is not None:
            await self.controllers.stop()
        if self.ovs is not None:
            await run_blocking(self.ovs.close)
        if self.own_ovs is not None:
            await self.own_ovs.stop()
        if self.checker is not None:
            self.checker.close()
        if self.rpc is not None:
            await run_blocking(self.rpc.close)


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (the unit sets LimitNOFILE), so bursts
    of Docker calls, OVS and FAUCET connections and status clients never run out; the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_LIMIT_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as err:
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, wanted, err)
    return soft


async def serve(settings: ServeSettings) -> int:
    log.info("open-files limit %d", raise_fd_limit())
    daemon = Daemon(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await daemon.start()
    except DovesnapError as err:
        log.error("%s", err.message)
        await daemon.stop()
        return 1
    except Exception:
        log.exception("dovesnap could not start")
        await daemon.stop()
        return 1
    # Modules, settings and the state built at start live as long as the daemon: out of the
    # collector's full scans, whose pauses (run on whatever thread allocates, the event loop's
    # included) stay short while FAUCET configs are rendered in workers.
    gc.freeze()
    log.info("dovesnap ready")
    await stop.wait()
    log.info("dovesnap stopping")
    with contextlib.suppress(Exception):
        await daemon.stop()
    return 0
