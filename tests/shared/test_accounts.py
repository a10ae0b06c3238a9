from __future__ import annotations

from pathlib import Path

import pytest

from shared.accounts import AccountsFileError, load_accounts
from shared.contracts.v1 import Channel


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_accounts(Path("config/accounts.example.yaml"))
    assert {a.channel for a in registry.for_channel(Channel.WECHAT)} == {Channel.WECHAT}
    assert registry.get(Channel.WEIBO, "city-weibo") is not None
    assert registry.get(Channel.ALIPAY, "city-alipay") is not None


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WX_TOKEN", "s3cret")
    path = write(tmp_path, "accounts:\n  - {id: a, channel: wechat, name: A, token: '${WX_TOKEN}', app_id: wx1}\n")
    assert load_accounts(path).get(Channel.WECHAT, "a").token == "s3cret"  # type: ignore[union-attr]


def test_a_missing_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(
        tmp_path,
        "accounts:\n  - {id: a, channel: wechat, name: A, token: '${NOT_SET_ANYWHERE}', app_id: x}\n",
    )
    with pytest.raises(AccountsFileError, match="NOT_SET_ANYWHERE"):
        load_accounts(path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("accounts:\n  - {id: a, channel: wechat, name: A, app_id: x}\n", "lacks token"),
        ("accounts:\n  - {id: a, channel: fax, name: A}\n", "channel"),
        ("accounts: {}\n", "list under 'accounts:'"),
        (
            "accounts:\n  - {id: a, channel: weibo, name: A, app_secret: s}\n"
            "  - {id: a, channel: weibo, name: B, app_secret: t}\n",
            "duplicate",
        ),
        ("accounts: [\n", "not valid YAML"),
        (
            "accounts:\n  - {id: a, channel: wechat, name: A, token: t, app_id: x, message_mode: safe}\n",
            "lacks encoding",
        ),
        # A copying mistake (WeChat's key with a trailing "="): refused at start-up, not at every encrypted push.
        (
            f"accounts:\n  - {{id: a, channel: wechat, name: A, token: t, app_id: x, encoding_aes_key: {'k' * 43}=}}\n",
            "encoding_aes_key must be the 43 characters",
        ),
        (
            f"accounts:\n  - {{id: a, channel: wechat, name: A, token: t, app_id: x, encoding_aes_key: {'k' * 42}!}}\n",
            "not the base64",
        ),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(AccountsFileError, match=reason):
        load_accounts(write(tmp_path, text))


def test_same_id_on_two_channels_is_two_accounts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "accounts:\n  - {id: city, channel: wechat, name: A, token: t, app_id: x}\n"
        "  - {id: city, channel: weibo, name: B, app_secret: s}\n",
    )
    registry = load_accounts(path)
    assert registry.get(Channel.WECHAT, "city").name == "A"  # type: ignore[union-attr]
    assert registry.get(Channel.WEIBO, "city").name == "B"  # type: ignore[union-attr]
