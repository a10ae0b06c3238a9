"""`make run` serves fake platform APIs for accounts pointed at them, so local replies go somewhere visible."""

from __future__ import annotations

from pathlib import Path

import httpx

from inbox_dev.cli import local_platforms


def test_the_accounts_pointed_at_this_machine_get_a_fake_platform(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - {id: local, channel: wechat, name: w, token: t, app_id: wx1, app_secret: s,"
        " api_base: 'http://127.0.0.1:8901'}\n"
        "  - {id: real, channel: weibo, name: b, app_secret: s, access_token: a}\n",
        encoding="utf-8",
    )
    fakes = local_platforms(accounts)
    try:
        assert [f.name for f in fakes] == ["wechat"]  # Weibo's account uses the real host: no fake for it
        token = httpx.get(
            "http://127.0.0.1:8901/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": "wx1", "secret": "s"},
            timeout=5,
        )
        assert token.status_code == 200 and "access_token" in token.json()
        assert [r.path for r in fakes[0].received] == ["/cgi-bin/token"]  # what `make run` prints
    finally:
        for fake in fakes:
            fake.stop()
