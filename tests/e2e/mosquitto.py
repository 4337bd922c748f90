"""A throwaway Mosquitto broker (Debian's ``mosquitto`` package) on a free loopback port.

It refuses anonymous clients and uses ``deploy/mosquitto/acl`` as is, with a password file
made by ``mosquitto_passwd`` for the users below. .ci/run installs the package; where it is
missing the tests are skipped on a developer's machine and fail under CI (``CI=true``).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.server import free_port
from tests.conftest import missing_tool

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "deploy" / "mosquitto" / "acl"
#: user -> password. ``gasleak`` is the service, ``ops`` reads every alert and error reply,
#: the others are gateways whose user name is their device id (the ACL's ``%u`` patterns).
USERS = {
    "gasleak": "service-secret",
    "ops": "ops-secret",
    "dev-1": "gw1-secret",
    "fire": "fire-secret",
}


def _binary(name: str, *dirs: str) -> str | None:
    return shutil.which(name) or next(
        (str(Path(d) / name) for d in dirs if (Path(d) / name).exists()), None
    )


def require_mosquitto() -> tuple[str, str]:
    """Paths of ``mosquitto`` and ``mosquitto_passwd``; skip (fail under CI) when missing."""
    broker = _binary("mosquitto", "/usr/sbin")
    passwd = _binary("mosquitto_passwd", "/usr/bin")
    if broker is None or passwd is None:
        missing_tool("MQTT tests need Debian's mosquitto package (apt-get install -y mosquitto)")
    return broker, passwd


@dataclass
class Mosquitto:
    """One broker process; :meth:`stop` and :meth:`start` again keep its port."""

    binary: str
    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>`` (for ``GASLEAK_MQTT_URL``)."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start on :attr:`port` and wait until it accepts connections (10 s).

        Raises:
            RuntimeError: it exited or did not listen; its log is included.
        """
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {self.folder / 'passwd'}\n"
            f"acl_file {ACL}\n"
            # sessions and their queued QoS 1 messages survive a restart (deploy/mosquitto)
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            # run as whoever runs the tests (as root it would switch to user mosquitto,
            # which cannot read this temp folder)
            f"user {getpass.getuser()}\n"
            f"log_dest file {self.folder / 'mosquitto.log'}\n"
        )
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        log = self.folder / "mosquitto.log"
        raise RuntimeError(f"mosquitto did not start:\n{log.read_text() if log.exists() else ''}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def start_mosquitto() -> Mosquitto:
    """A broker with the project's ACL and a password file for :data:`USERS`."""
    broker, passwd = require_mosquitto()
    folder = Path(tempfile.mkdtemp(prefix="gasleak-mqtt-"))
    for i, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run([passwd, *create, "-b", str(folder / "passwd"), user, password], check=True)
    m = Mosquitto(broker, folder)
    m.start()
    return m


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A fresh broker for one test, stopped and removed after it."""
    m = start_mosquitto()
    yield m
    m.stop()
    shutil.rmtree(m.folder, ignore_errors=True)
