"""`inbox-dev run`: the whole product on the embedded defaults, until Ctrl-C; `inbox-dev simulate`: play the
platforms against it."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from shared.accounts import AccountsFileError, load_accounts
from shared.contracts.v1 import Channel

from . import simulate
from .demo_keys import ensure_demo_keys
from .simulator.server import FakePlatform
from .stack import Stack


def local_platforms(accounts_path: Path) -> list[FakePlatform]:
    """The fake platform APIs the accounts file points at (the example's `api_base: http://127.0.0.1:890x`):
    replies, acknowledgements and rating requests then go somewhere visible instead of to the real platforms
    with demo credentials. Accounts with the real hosts get none."""
    try:
        accounts = load_accounts(accounts_path)
    except AccountsFileError:
        return []  # the services say what is wrong with it
    local = {
        channel
        for channel, port in simulate.API_PORTS.items()
        if any((a.api_base or "").startswith(f"http://127.0.0.1:{port}") for a in accounts.for_channel(channel))
    }
    fakes = [f for f in simulate.fake_apis(accounts, simulate.platform_key(simulate.PLATFORM_KEY)) if f.name in local]
    for fake in fakes:
        fake.start(simulate.API_PORTS[Channel(fake.name)])
    return fakes


def run(args: argparse.Namespace) -> int:
    stack = Stack(broker_port=None if args.external_broker else args.broker_port)
    stopping = False
    fakes: list[FakePlatform] = []
    shown: dict[str, int] = {}  # calls to the fakes already printed

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        fakes = local_platforms(simulate.accounts_file(None))
        stack.start()
        print("\nThe inbox is running (Ctrl-C stops everything):", *stack.urls(), sep="\n  ", flush=True)
        if stack.broker is not None:
            print(f"  {'broker':>13}: {stack.broker.bootstrap_servers} (Kafka protocol, memory only)")
        for fake in fakes:
            print(f"  {'fake ' + fake.name:>13}: {fake.url} (what the product sends to {fake.name} is shown here)")
        print(
            "  webhooks: POST /webhooks/<wechat|weibo|alipay>/<account id>;  cases: GET /api/v1/cases\n",
            flush=True,
        )
        while not stopping:
            simulate.print_new_calls(fakes, shown, prefix=f"{'platform':>13} | ")
            if dead := stack.exited():
                print(
                    f"\n{', '.join(dead)} stopped unexpectedly; stopping the rest.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            time.sleep(0.5)
        return 0
    except Exception as exc:
        print(f"could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stopping…", flush=True)
        stack.stop()
        for fake in fakes:
            fake.stop()
        print("stopped.", flush=True)


def replay_dlq(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from .dlq import replay

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    result = asyncio.run(replay(bootstrap, args.topic, dry_run=args.dry_run))
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {result.replayed} record(s) from {args.topic}")
    if result.copies_skipped:
        print(f"  and skipped {result.copies_skipped} further copies of records dead-lettered more than once")
    for reason, count in result.reasons.items():
        print(f"  {count} × {reason}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="inbox-dev")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start broker, migrations and all services")
    run_parser.add_argument("--broker-port", type=int, default=9092)
    run_parser.add_argument(
        "--external-broker", action="store_true", help="use KAFKA_BOOTSTRAP_SERVERS instead of starting Tansu"
    )
    sub.add_parser("demo-keys", help="create RSA keys for the demo Alipay account under var/demo-keys")
    sub.add_parser("docs", help="regenerate docs/openapi.json and docs/asyncapi.json from the code")
    simulate.add_parser(sub)
    replay_parser = sub.add_parser("replay-dlq", help="send a dead-letter topic's records back to their topic")
    replay_parser.add_argument("topic", help="e.g. inbox.routed.v1.dlq")
    replay_parser.add_argument("--dry-run", action="store_true", help="only count what would be replayed")
    args = parser.parse_args()
    if args.command == "replay-dlq":
        sys.exit(replay_dlq(args))
    if args.command == "docs":
        from .apidocs import write

        print(*(f"wrote {p}" for p in write()), sep="\n")
        return
    if args.command == "demo-keys":
        print(f"demo keys in {ensure_demo_keys()}")
        return
    if args.command == "simulate":
        sys.exit(simulate.simulate(args))
    sys.exit(run(args))
