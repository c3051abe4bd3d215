"""``dovesnap serve``: wire the adapters together, start the stack, serve Docker and status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from dovesnap.adapters.file_watch import FileWatch
from dovesnap.adapters.netlink import PyRoute2Netlink
from dovesnap.adapters.openflow import OfctlOpenFlow
from dovesnap.adapters.ovsdb import OvsdbBackend
from dovesnap.api.handlers import make_app
from dovesnap.blocking import run_blocking
from dovesnap.config import CONTROLLER_HOST, ServeSettings, default_controllers
from dovesnap.driver.config_watch import ConfigWatch
from dovesnap.driver.context import FeatureContext
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.faucet_health import FaucetHealth
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.driver.recovery import Recovery
from dovesnap.driver.reinstall import reinstall_port
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.errors import DovesnapError
from dovesnap.features.events import recovery_notifier
from dovesnap.features.registry import build_features
from dovesnap.runtime.engine import determine_engine_id
from dovesnap.runtime.faucet import EmbeddedControllers, gauge_config, starter_faucet_config
from dovesnap.runtime.ovs import OwnOvs, db_answers, kernel_datapath_available
from dovesnap.status.observe import Observability
from dovesnap.status.report import status
from dovesnap.status.server import make_status_app, parse_auth_ips

log = logging.getLogger(__name__)



class Daemon:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.own_ovs: OwnOvs | None = None
        self.controllers: EmbeddedControllers | None = None
        self.ovs: OvsdbBackend | None = None
        self.ovs_changes = OvsChanges()  # OVSDB notifications, for features to subscribe
        self.driver: Driver | None = None
        self.runners: list[web.AppRunner] = []
        self.engine_id = ""
        self.checker: FaucetCheckProcess | None = None
        self.observe = Observability()  # metrics, events, status page
        self.events: DockerEventWatcher | None = None
        self.recovery: Recovery | None = None
        self.health: FaucetHealth | None = None
        self.config_watch: ConfigWatch | None = None

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
            OvsdbBackend, f"unix:{sock}", 10.0, self.ovs_changes.notify
        )

    async def _prepare_faucet(self, store: FaucetConfigStore) -> None:
        await store.ensure_exists(starter_faucet_config())
        gauge_yaml = self.settings.faucet_config_dir / "gauge.yaml"
        if not gauge_yaml.exists():
            gauge_store = FaucetConfigStore(gauge_yaml, lambda _path: None, lambda: None)
            await gauge_store.ensure_exists(
                gauge_config(store.path, self.settings.gauge_prom_port)
            )

    async def start(self) -> None:
        settings = self.settings
        self.ovs = await self._start_ovs()
        kernel = kernel_datapath_available()
        if settings.embedded_faucet:
            self.controllers = EmbeddedControllers(
                settings.faucet_config_dir,
                settings.log_dir,
                (settings.faucet_of_port, settings.gauge_of_port),
                settings.faucet_prom_port,
                run_dir=settings.state_dir,
            )
        controllers = self.controllers

        def reload() -> None:
            if controllers is not None:
                controllers.reload()

        self.checker = FaucetCheckProcess()
        store = FaucetConfigStore(settings.faucet_config_dir / "faucet.yaml",
                                  self.observe.metrics.timed_validator(self.checker), reload)
        await self._prepare_faucet(store)
        if controllers is not None:
            controllers.start()
        docker = DockerSdkBackend(settings.docker_url, driver_name=settings.plugin_socket.stem)
        self.engine_id = await determine_engine_id(docker)  # daemon bridges are named after it
        driver = Driver(
            DriverSettings(
                default_controllers(settings),
                kernel_datapath=kernel,
                driver_name=settings.plugin_socket.stem,
            ),
            self.ovs, PyRoute2Netlink(), docker, store,
        )
        driver.attach_hooks(build_features(self._feature_context(driver)))
        self.driver = driver
        self._watch_faucet(driver, reload)
        for hook in driver.hooks:
            await hook.daemon_started()
        await restore_from_ovs(driver)
        assert self.health is not None and self.config_watch is not None
        self.health.start()
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

    def _watch_faucet(self, driver: Driver, reload: Callable[[], None]) -> None:
        """Confirm FAUCET applies each change (and say why not); re-sync when faucet.yaml
        changes, so a fixed file heals every port."""
        settings = self.settings
        self.health = FaucetHealth(
            lambda: driver.networks, driver.faucet.path,
            FaucetMetricsPage(self._faucet_metrics_url()) if self.controllers else None,
            OfctlOpenFlow(),
            FaucetExceptionLog(settings.log_dir / "faucet_exception.log")
            if self.controllers else None,
            self.observe.bus.publish,
            reinstall=lambda net, ep: reinstall_port(driver, net, ep, 5.0),
        )
        driver.notify = self.observe.bus.publish
        driver.port_forwarding = self.health.wait_flows
        driver.faucet_loaded = self.health.wait_loaded
        driver.dp_sync.on_synced.append(self.health.changed)
        self.config_watch = ConfigWatch(driver, FileWatch, reload)

    def _faucet_metrics_url(self) -> str:
        return f"http://{CONTROLLER_HOST}:{self.settings.faucet_prom_port}/"

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
            faucet_metrics_url=self._faucet_metrics_url(),
            hostname=socket.gethostname(),
        )

    async def _serve_plugin(self, driver: Driver) -> None:
        sock = self.settings.plugin_socket
        sock.parent.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)
        runner = web.AppRunner(make_app(driver, self.observe.metrics.observe_api), access_log=None)
        await runner.setup()
        await web.UnixSite(runner, str(sock)).start()
        self.runners.append(runner)
        log.info("plugin listening on %s", sock)

    async def _serve_status(self, driver: Driver) -> None:
        auth = parse_auth_ips(self.settings.status_auth_ips)

        def get_status() -> dict[str, Any]:
            return status(driver.networks, self.engine_id, driver.hooks)

        routes = self.observe.routes(get_status, driver, lambda: self.engine_id)
        app = make_status_app(get_status, auth, routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, None, self.settings.status_port).start()
        self.runners.append(runner)
        log.info("status on port %d", self.settings.status_port)

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()
        self.settings.plugin_socket.unlink(missing_ok=True)
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
        if self.controllers is not None:
            await self.controllers.stop()
        if self.ovs is not None:
            await run_blocking(self.ovs.close)
        if self.own_ovs is not None:
            await self.own_ovs.stop()
        if self.checker is not None:
            self.checker.close()


async def serve(settings: ServeSettings) -> int:
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
    log.info("dovesnap ready")
    await stop.wait()
    log.info("dovesnap stopping")
    with contextlib.suppress(Exception):
        await daemon.stop()
    return 0
