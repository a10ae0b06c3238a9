"""Start the whole product as separate processes: broker, migrations, five services. `make run` and the
end-to-end tests both use this, so the tests exercise exactly what an operator starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shared.kafka import ensure_topics
from shared.topics import Topics

from .broker import Broker
from .ports import port_is_free


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int


DEFAULT_SERVICES = (
    Service("case-api", "case_api", 8000),
    Service("router", "router", 8200),
    Service("ingest-wechat", "ingest_wechat", 8101),
    Service("ingest-weibo", "ingest_weibo", 8102),
    Service("ingest-alipay", "ingest_alipay", 8103),
)

# Group membership with Kafka's defaults takes 5 s to join; on the local broker these make start-up and
# takeover quick (KAFKA-LOCAL.md). Anything set in the environment wins.
LOCAL_KAFKA = {
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
    "KAFKA_FETCH_MAX_WAIT_MS": "20",
}

_COLOURS = ("\033[36m", "\033[35m", "\033[32m", "\033[33m", "\033[34m", "\033[31m")


@dataclass
class Stack:
    services: tuple[Service, ...] = DEFAULT_SERVICES
    broker_port: int | None = 9092  # None: use KAFKA_BOOTSTRAP_SERVERS from env (an existing broker)
    env: dict[str, str] = field(default_factory=dict)  # on top of os.environ
    log_dir: Path = Path("var/log")
    echo: bool = True  # interleave every process's output on our stdout, prefixed with its name
    broker: Broker | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        env = {**LOCAL_KAFKA, **os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        if self.broker is not None:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap_servers
        return env

    def start(self, *, timeout: float = 60.0) -> None:
        busy = [s for s in self.services if not port_is_free(s.port)]
        if busy:
            raise RuntimeError(
                "ports in use: " + ", ".join(f"{s.name} {s.port}" for s in busy) + " (is another stack running?)"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.broker_port is not None:
            self._say("broker", f"starting Tansu on 127.0.0.1:{self.broker_port} (memory only)")
            self.broker = Broker(self.broker_port, log_path=self.log_dir / "broker.log")
            self.broker.start()
        env = self._env()
        prefix = env.get("KAFKA_TOPIC_PREFIX", "")
        partitions = int(env.get("KAFKA_TOPIC_PARTITIONS", "4"))
        asyncio.run(
            ensure_topics(
                env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                Topics(prefix).all(),
                partitions=partitions,
            )
        )
        self._say("migrate", "bringing the database to the latest schema")
        subprocess.run([sys.executable, "-m", "case_api.migrate"], env=env, check=True)
        for i, service in enumerate(self.services):
            self._spawn(service, _COLOURS[i % len(_COLOURS)], env)
        self.wait_healthy(timeout=timeout)

    def _peers(self) -> dict[str, str]:
        """Where each service finds the others it calls (the router asks case-api who signed in)."""
        case_api = next((s for s in self.services if s.name == "case-api"), None)
        return {"INBOX_CASE_API_URL": f"http://127.0.0.1:{case_api.port}"} if case_api else {}

    def _spawn(self, service: Service, colour: str, env: dict[str, str]) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", service.module],
            env={**self._peers(), **env, "INBOX_PORT": str(service.port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # we deliver the stop signal ourselves, in order
        )
        self.processes[service.name] = process
        log_file = (self.log_dir / f"{service.name}.log").open("ab")
        thread = threading.Thread(target=self._pump, args=(service.name, colour, process.stdout, log_file), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _pump(self, name: str, colour: str, stream: IO[bytes] | None, log_file: IO[bytes]) -> None:
        assert stream is not None
        tag = f"{colour}{name:>13}\033[0m | " if sys.stdout.isatty() else f"{name:>13} | "
        for line in iter(stream.readline, b""):
            log_file.write(line)
            log_file.flush()
            if self.echo:
                sys.stdout.write(tag + line.decode(errors="replace"))
                sys.stdout.flush()
        log_file.close()

    def _say(self, name: str, text: str) -> None:
        if self.echo:
            print(f"{name:>13} | {text}", flush=True)

    def wait_healthy(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        with httpx.Client(timeout=2.0) as client:
            while pending and time.monotonic() < deadline:
                for service in list(pending):
                    process = self.processes[service.name]
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{service.name} exited with {process.returncode}; see its log above "
                            f"or {self.log_dir / (service.name + '.log')}"
                        )
                    try:
                        if client.get(f"http://127.0.0.1:{service.port}/healthz").status_code == 200:
                            pending.remove(service)
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)
        if pending:
            raise RuntimeError("not healthy in time: " + ", ".join(s.name for s in pending))

    def kill(self, name: str) -> None:
        """SIGKILL one service, as a crash would (fault tests)."""
        process = self.processes[name]
        process.kill()
        process.wait(timeout=10)

    def restart(self, name: str, *, timeout: float = 30.0) -> None:
        """Start a stopped or killed service again with the same environment, and wait until it is healthy."""
        index, service = next((i, s) for i, s in enumerate(self.services) if s.name == name)
        if self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is still running")
        self._spawn(service, _COLOURS[index % len(_COLOURS)], self._env())
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(f"http://127.0.0.1:{service.port}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{name} not healthy {timeout:.0f}s after restart")

    def exited(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._say(name, "did not stop in 10 s; killing")
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join(timeout=2)
        if self.broker is not None:
            self.broker.stop()

    def urls(self) -> list[str]:
        return [f"{s.name:>13}: http://127.0.0.1:{s.port}" for s in self.services]
