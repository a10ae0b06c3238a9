"""Channel accounts from the YAML file named by INBOX_ACCOUNTS_FILE; secrets may be written `${ENV_VAR}`."""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .contracts.v1 import Channel

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

_REQUIRED: dict[Channel, tuple[str, ...]] = {
    Channel.WECHAT: ("token", "app_id"),
    Channel.WEIBO: ("app_secret",),
    Channel.ALIPAY: ("app_id",),
}

# The field holding the id each platform names the receiving account by in every push (WeChat's ToUserName,
# Weibo's receiver_id, Alipay's AppId): set, a push naming another account is refused.
RECIPIENT_FIELDS: dict[Channel, str] = {Channel.WECHAT: "original_id", Channel.WEIBO: "uid", Channel.ALIPAY: "app_id"}


class AccountsFileError(ValueError):
    """The accounts file cannot be used; the message says where and why."""


class Account(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    channel: Channel
    name: str
    api_base: str | None = None
    # WeChat
    token: str | None = None
    app_id: str | None = None
    app_secret: str | None = None
    encoding_aes_key: str | None = None
    # The console's 消息加解密方式. "safe" (安全模式): a push without encryption is refused, since the plaintext
    # signature covers neither the body nor who sent it; unset, pushes are taken as they come (while switching modes).
    message_mode: Literal["plaintext", "compatible", "safe"] | None = None
    original_id: str | None = None  # 原始ID, gh_…
    # Weibo
    access_token: str | None = None
    uid: str | None = None  # the account's own Weibo user id
    # Alipay
    app_private_key_file: Path | None = None
    alipay_public_key_file: Path | None = None

    @field_validator("original_id", mode="before")
    @classmethod
    def _an_original_id(cls, value: object) -> object:
        if value in (None, ""):  # unset, as an empty ${ENV_VAR} leaves it
            return None
        if not (isinstance(value, str) and value.startswith("gh_")):
            raise ValueError(f"original_id {value!r} is not a WeChat original id (原始ID, gh_…; not the app_id)")
        return value

    @field_validator("encoding_aes_key", mode="before")
    @classmethod
    def _an_aes_key(cls, value: object) -> object:
        # Checked here, not at the first encrypted push: that would answer WeChat 500 until someone read the logs.
        if value in (None, ""):
            return None
        if not isinstance(value, str) or len(value) != 43:
            length = len(value) if isinstance(value, str) else type(value).__name__
            raise ValueError(f"encoding_aes_key must be the 43 characters WeChat shows (EncodingAESKey), not {length}")
        try:
            base64.b64decode(value + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("encoding_aes_key is not the base64 WeChat shows (EncodingAESKey)") from exc
        return value

    @field_validator("uid", mode="before")
    @classmethod
    def _a_uid(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if isinstance(value, int) and not isinstance(value, bool):  # written bare in YAML: kept as text, exactly
            value = str(value)
        if not (isinstance(value, str) and value.isascii() and value.isdigit()):
            raise ValueError(f"uid {value!r} is not a Weibo user id (digits)")
        return value

    @model_validator(mode="after")
    def _credentials_present(self) -> Account:
        missing = [f for f in _REQUIRED[self.channel] if not getattr(self, f)]
        if self.message_mode in ("compatible", "safe") and not self.encoding_aes_key:
            missing.append(f"encoding_aes_key (message_mode {self.message_mode})")
        if missing:
            raise ValueError(f"{self.channel} account {self.id!r} lacks {', '.join(missing)}")
        return self


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise AccountsFileError(f"{where}: environment variable {name} is not set")
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class AccountRegistry:
    def __init__(self, accounts: list[Account]) -> None:
        self._by_key = {(a.channel, a.id): a for a in accounts}

    def get(self, channel: Channel, account_id: str) -> Account | None:
        return self._by_key.get((channel, account_id))

    def for_channel(self, channel: Channel) -> list[Account]:
        return [a for (c, _), a in self._by_key.items() if c == channel]

    def __len__(self) -> int:
        return len(self._by_key)


def load_accounts(path: Path) -> AccountRegistry:
    if not path.exists():
        raise AccountsFileError(f"{path}: no such file (copy config/accounts.example.yaml to start)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AccountsFileError(f"{path}: not valid YAML: {exc}") from exc
    entries = doc.get("accounts") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise AccountsFileError(f"{path}: expected a list under 'accounts:'")
    accounts: list[Account] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: accounts[{i}]"
        try:
            account = Account.model_validate(_expand(entry, where))
        except ValidationError as exc:
            raise AccountsFileError(f"{where}: {exc}") from exc
        if (account.channel, account.id) in seen:
            raise AccountsFileError(f"{where}: duplicate {account.channel} account id {account.id!r}")
        seen.add((account.channel, account.id))
        accounts.append(account)
    return AccountRegistry(accounts)
