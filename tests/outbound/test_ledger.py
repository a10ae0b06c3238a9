"""The delivery ledger keeps each reply's state across restarts; finished rows are pruned when old."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from shared.contracts.v1 import utcnow
from shared.outbound import Delivery, DeliveryLedger, LedgerStatus


async def test_a_row_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "ledger.db"
    reply_id, now = uuid.uuid4(), utcnow()
    ledger = await DeliveryLedger.open(path)
    assert await ledger.get(reply_id) is None
    sending = await ledger.save(Delivery.new(reply_id, now).sending(now))
    await ledger.close()

    reopened = await DeliveryLedger.open(path)
    try:
        assert await reopened.get(reply_id) == sending
        assert sending.status is LedgerStatus.SENDING and sending.attempts == 1
        done = await reopened.save(sending.finish(LedgerStatus.FAILED, "45015", "窗口已过", now).published(now))
        assert await reopened.get(reply_id) == done
    finally:
        await reopened.close()


async def test_prune_forgets_only_old_finished_rows_whose_receipt_went_out(tmp_path: Path) -> None:
    ledger = await DeliveryLedger.open(tmp_path / "ledger.db")
    now = utcnow()
    old = now - timedelta(days=40)
    rows = {
        "old_published": Delivery.new(uuid.uuid4(), old).finish(LedgerStatus.DELIVERED, None, None, old).published(old),
        "old_unpublished": Delivery.new(uuid.uuid4(), old).finish(LedgerStatus.DELIVERED, None, None, old),
        "old_sending": Delivery.new(uuid.uuid4(), old).sending(old),
        "recent": Delivery.new(uuid.uuid4(), now).finish(LedgerStatus.FAILED, "x", "y", now).published(now),
    }
    try:
        for row in rows.values():
            await ledger.save(row)
        assert await ledger.prune(now=now, keep=timedelta(days=30)) == 1
        kept = {name for name, row in rows.items() if await ledger.get(row.reply_id) is not None}
        assert kept == {"old_unpublished", "old_sending", "recent"}
    finally:
        await ledger.close()
