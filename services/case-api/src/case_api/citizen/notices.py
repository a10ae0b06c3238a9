"""What the citizen is told automatically, through their own channel: the acknowledgement with the tracking
number, progress on request (查询/进度), and the request to rate the handling after closure."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta

from case_api.cases.numbers import tracking_code
from shared.accounts import AccountRegistry
from shared.contracts.v1 import Channel

ACK_TEMPLATE = "您的诉求已收到，受理编号{number}，查询码{code}。我们会尽快办理，回复“查询”可随时了解进度。"
RATING_TEMPLATE = "您的诉求（编号{number}）已办结。请回复数字1-5为本次办理评分（5为非常满意，1为非常不满意）。"
PROGRESS_LINE = "编号{number}：{status}"
# The answer to a rating, so the citizen does not send it again; a low score says what happens next.
RATED_TEXT = "感谢您的评价！"
RATED_REOPENED_TEMPLATE = "感谢您的评价。编号{number}的诉求将重新办理，我们会尽快答复您。"
RATED_FLAGGED_TEXT = "感谢您的评价，您的意见已转交督办。"

# Matched after NFKC: Chinese input methods often type full-width digits and punctuation (５, ：, ！).
_PROGRESS = re.compile(
    r"^\s*(?:查询进度|进度查询|查询|进度)\s*(?:编号)?\s*:?\s*(?P<number>[0-9]{8}-[0-9]{5})?\s*[。.!]?\s*$"
)
_RATING = re.compile(r"^\s*(?P<score>[1-5])\s*(?:分|星)?\s*[。.!]?\s*$")


def progress_query(text: str) -> tuple[bool, str | None]:
    """(is it a progress query, the tracking number it names if any)."""
    match = _PROGRESS.match(unicodedata.normalize("NFKC", text))
    return (True, match.group("number")) if match else (False, None)


def rating(text: str) -> int | None:
    match = _RATING.match(unicodedata.normalize("NFKC", text))
    return int(match.group("score")) if match else None


@dataclass(frozen=True)
class Notices:
    acknowledge: bool = True
    ack_template: str = ACK_TEMPLATE
    request_rating: bool = True
    rating_template: str = RATING_TEMPLATE
    rating_window: timedelta = timedelta(days=7)
    low_rating: int = 2  # this score or lower…
    low_rating_action: str = "reopen"  # …reopens the case ("reopen") or only flags it for supervisors ("flag")
    accounts: AccountRegistry = field(default_factory=lambda: AccountRegistry([]))
    secret: str = ""  # derives each number's tracking code (cases.numbers.tracking_code)
    # How long anything queued for a citizen is still worth sending (INBOX_REPLY_TTL_S): carried in each command.
    reply_ttl: timedelta | None = None

    def __post_init__(self) -> None:
        """The accounts file's settings for the acknowledgement fail start-up when wrong, not every intake batch
        (a template naming an unknown field) or silently ("false" in quotes, which reads as on)."""
        for channel in Channel:
            for account in self.accounts.for_channel(channel):
                extra = account.model_extra or {}
                where = f"accounts file, {channel.value} account {account.id!r}"
                if not isinstance(extra.get("acknowledge", True), bool):
                    raise ValueError(f"{where}: acknowledge must be true or false, not {extra['acknowledge']!r}")
                template = str(extra.get("acknowledge_template", self.ack_template))
                try:
                    template.format(number="20260101-00001", code="000000")
                except (KeyError, IndexError, ValueError) as exc:
                    raise ValueError(
                        f"{where}: acknowledge_template {template!r} can use only {{number}} and {{code}} ({exc!r})"
                    ) from exc

    def ack_text(self, channel: str, account_id: str, number: str) -> str | None:
        """The acknowledgement for a new case, or None when this account has it switched off."""
        account = self.accounts.get(Channel(channel), account_id)
        extra = (account.model_extra or {}) if account else {}
        if not extra.get("acknowledge", self.acknowledge):
            return None
        template = str(extra.get("acknowledge_template", self.ack_template))
        return template.format(number=number, code=tracking_code(number, self.secret))

    def rating_text(self, number: str) -> str | None:
        return self.rating_template.format(number=number) if self.request_rating else None
