"""`inbox-dev simulate`: play WeChat, Weibo and Alipay against a running stack.

Sends correctly signed (and encrypted) sample pushes of every kind to the three webhooks and prints what each
answered. With `--serve-apis` it also serves fake platform APIs and prints every call the product makes to them
(point the accounts' `api_base` at the URLs it prints).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from ingest_alipay.keys import AccountKeysError, keys_for
from ingest_alipay.signature import load_private_key
from shared.accounts import AccountRegistry, AccountsFileError, load_accounts
from shared.contracts.v1 import Channel

from .simulator.fake_alipay import FakeAlipay
from .simulator.fake_wechat import FakeWeChat
from .simulator.fake_weibo import FakeWeibo
from .simulator.samples import Sample, alipay_samples, wechat_samples, weibo_samples
from .simulator.server import FakePlatform, Received

WEBHOOK_PORTS = {Channel.WECHAT: 8101, Channel.WEIBO: 8102, Channel.ALIPAY: 8103}
API_PORTS = {Channel.WECHAT: 8901, Channel.WEIBO: 8902, Channel.ALIPAY: 8903}
PLATFORM_KEY = Path("var/demo-keys/alipay-platform-private.pem")


@dataclass(frozen=True)
class Result:
    sample: Sample
    status: int | None
    answer: str

    @property
    def as_expected(self) -> bool:
        if self.status != self.sample.expect_status:
            return False
        return self.sample.expect_in_body is None or self.sample.expect_in_body in self.answer


def accounts_file(path: Path | None) -> Path:
    if path is not None:
        return path
    local = Path("config/accounts.yaml")
    return local if local.exists() else Path("config/accounts.example.yaml")


def platform_key(path: Path) -> RSAPrivateKey | None:
    try:
        return load_private_key(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def build_samples(
    accounts: AccountRegistry, channels: list[Channel], *, alipay_key: RSAPrivateKey | None
) -> tuple[list[Sample], list[str]]:
    """Samples for the first account of each channel, and notes on what had to be skipped."""
    samples: list[Sample] = []
    notes: list[str] = []
    for channel in channels:
        found = accounts.for_channel(channel)
        if not found:
            notes.append(f"{channel.value}: no account in the accounts file, skipped")
            continue
        account = found[0]
        if channel is Channel.WECHAT:
            samples += wechat_samples(account)
        elif channel is Channel.WEIBO:
            samples += weibo_samples(account)
        elif alipay_key is None:
            notes.append("alipay: no platform private key to sign with (run `inbox-dev demo-keys`), skipped")
        else:
            samples += alipay_samples(account, platform_key=alipay_key)
    return samples, notes


async def send_samples(samples: list[Sample], clients: Mapping[str, httpx.AsyncClient]) -> list[Result]:
    """Send each sample through its channel's client (whose base_url is that webhook service)."""
    results: list[Result] = []
    for sample in samples:
        try:
            response = await clients[sample.channel].request(
                sample.method, sample.path, params=sample.params, content=sample.body, headers=sample.headers
            )
        except httpx.HTTPError as exc:
            results.append(Result(sample, None, f"{type(exc).__name__}: {exc}"))
            continue
        results.append(Result(sample, response.status_code, response.content.decode("utf-8", "replace")))
    return results


async def send_to_stack(samples: list[Sample], base_urls: Mapping[str, str], *, timeout: float = 5.0) -> list[Result]:
    async with contextlib.AsyncExitStack() as stack:
        # trust_env=False: a proxy from the environment must not stand between us and a local stack.
        clients = {
            channel: await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=timeout, trust_env=False))
            for channel, url in base_urls.items()
        }
        return await send_samples(samples, clients)


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_results(results: list[Result]) -> None:
    for r in results:
        mark = "ok " if r.as_expected else "UNEXPECTED"
        expected = "" if r.as_expected else f"  (expected {r.sample.expect_status})"
        status = r.status if r.status is not None else "---"
        print(f"{mark:<4} {r.sample.channel:<7} {r.sample.label:<34} {status} {_one_line(r.answer)}{expected}")
    good = sum(r.as_expected for r in results)
    print(f"\n{len(results)} pushes sent, {good} answered as expected.")


def fake_apis(accounts: AccountRegistry, alipay_key: RSAPrivateKey | None) -> list[FakePlatform]:
    fakes: list[FakePlatform] = [
        FakeWeChat({a.app_id or "": a.app_secret or "" for a in accounts.for_channel(Channel.WECHAT)}),
        FakeWeibo(a.access_token or "" for a in accounts.for_channel(Channel.WEIBO)),
    ]
    if alipay_key is None:
        print("fake alipay API not started: no platform private key to sign its answers (`inbox-dev demo-keys`)")
    else:
        app_keys: dict[str, RSAPublicKey] = {}
        for account in accounts.for_channel(Channel.ALIPAY):
            try:
                app_keys[account.app_id or ""] = keys_for(account).app_private.public_key()
            except AccountKeysError as exc:
                print(f"alipay {account.id}: {exc}")
        fakes.append(FakeAlipay(platform_key=alipay_key, app_keys=app_keys))
    return fakes


def describe(fake: FakePlatform, received: Received) -> str:
    body = received.body.decode("utf-8", "replace")
    if received.path.endswith("reply.json") or received.path.endswith("gateway.do"):
        form = received.form()
        body = form.get("biz_content") or form.get("data") or body
    return f"{fake.name} API ← {received.method} {received.path} {_one_line(body, 100)}"


def print_new_calls(fakes: list[FakePlatform], seen: dict[str, int], prefix: str = "") -> None:
    """Print what each fake received since the last call (`seen`: how many of its calls were printed)."""
    for fake in fakes:
        received = fake.received
        for item in received[seen.get(fake.name, 0) :]:
            print(prefix + describe(fake, item), flush=True)
        seen[fake.name] = len(received)


async def watch(fakes: list[FakePlatform]) -> None:
    seen: dict[str, int] = {}
    while True:
        print_new_calls(fakes, seen)
        await asyncio.sleep(0.3)


def simulate(args: argparse.Namespace) -> int:
    try:
        accounts = load_accounts(accounts_file(args.accounts))
    except AccountsFileError as exc:
        print(exc)
        return 1
    channels = [Channel(c) for c in args.channels.split(",")] if args.channels else list(Channel)
    alipay_key = platform_key(args.alipay_platform_key)
    fakes = fake_apis(accounts, alipay_key) if args.serve_apis else []
    try:
        for fake in fakes:
            fake.start(API_PORTS[Channel(fake.name)])
            base = f"{fake.url}/gateway.do" if fake.name == Channel.ALIPAY.value else fake.url
            print(f"fake {fake.name} API on {fake.url}  (api_base for its accounts: {base})")
        samples, notes = build_samples(accounts, channels, alipay_key=alipay_key)
        for note in notes:
            print(note)
        urls = {c.value: f"http://{args.host}:{WEBHOOK_PORTS[c]}" for c in Channel}
        for override in args.url or []:
            channel, _, url = override.partition("=")
            urls[channel] = url.rstrip("/")
        results = asyncio.run(send_to_stack(samples, urls))
        print_results(results)
        if results and all(r.status is None for r in results):
            print("No webhook answered: is the stack running (`make run`)? --url points at other ports.")
        failed = any(not r.as_expected for r in results)
        if fakes:
            print("\nServing the fake platform APIs; replies the product sends appear below. Ctrl-C stops.")
            try:
                asyncio.run(watch(fakes))
            except KeyboardInterrupt:
                pass
        return 1 if failed else 0
    finally:
        for fake in fakes:
            fake.stop()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("simulate", help="send signed sample messages of every kind to a running stack")
    parser.add_argument("--accounts", type=Path, help="accounts file (default config/accounts.yaml, else the example)")
    parser.add_argument("--channels", help="comma-separated subset of wechat,weibo,alipay")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--url", action="append", metavar="CHANNEL=URL", help="webhook base URL of one channel service")
    parser.add_argument("--alipay-platform-key", type=Path, default=PLATFORM_KEY, help="signs the Alipay notifies")
    parser.add_argument(
        "--serve-apis", action="store_true", help="also serve fake platform APIs on 8901-8903 and print what they get"
    )
