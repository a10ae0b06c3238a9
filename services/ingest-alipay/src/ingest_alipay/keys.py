"""Each Alipay account's two keys: Alipay's public key (verifies notifies) and our app private key (signs)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from shared.accounts import Account

from .signature import load_private_key, load_public_key, public_key_base64


class AccountKeysError(RuntimeError):
    """The account's key files are missing or unreadable: a configuration problem, not the platform's."""


@dataclass(frozen=True)
class AccountKeys:
    alipay_public: RSAPublicKey
    app_private: RSAPrivateKey

    @property
    def app_public_b64(self) -> str:
        return public_key_base64(self.app_private.public_key())


@lru_cache(maxsize=256)
def _load(public_path: Path, private_path: Path) -> AccountKeys:
    try:
        return AccountKeys(
            alipay_public=load_public_key(public_path.read_text(encoding="ascii")),
            app_private=load_private_key(private_path.read_text(encoding="ascii")),
        )
    except (OSError, ValueError) as exc:
        raise AccountKeysError(f"cannot read keys {public_path} / {private_path}: {exc}") from exc


def keys_for(account: Account) -> AccountKeys:
    if account.alipay_public_key_file is None or account.app_private_key_file is None:
        raise AccountKeysError(f"alipay account {account.id!r} needs alipay_public_key_file and app_private_key_file")
    return _load(account.alipay_public_key_file, account.app_private_key_file)
