"""Weekly and monthly reports: what citizens complain about, through which channels, which departments are
slow. As data (JSON), as CSV for spreadsheets, and as a readable HTML document with bar charts."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.cases.models import Case
from case_api.catalog.models import Category, Department
from shared.privacy import mask

from .stats import DISCARDED, department_stats

CHANNEL_NAMES = {"wechat": "微信", "weibo": "微博", "alipay": "支付宝"}


def period_bounds(kind: str, day: date, tz: ZoneInfo) -> tuple[datetime, datetime, str]:
    """The ISO week (Monday to Sunday) or calendar month containing `day`, as local instants, and a title."""
    if kind == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        year, week, _ = start.isocalendar()
        title = f"{year}年第{week}周（{start:%m月%d日}—{end - timedelta(days=1):%m月%d日}）"
    elif kind == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        title = f"{start.year}年{start.month}月"
    else:
        raise ValueError("period must be weekly or monthly")
    return datetime.combine(start, time(), tz), datetime.combine(end, time(), tz), title


async def build_report(session: AsyncSession, *, kind: str, day: date, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    start, end, title = period_bounds(kind, day, tz)
    categories = {c.id: c.name for c in (await session.scalars(select(Category))).all()}
    departments = {d.id: d.name for d in (await session.scalars(select(Department))).all()}
    by_category: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    by_department: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    examples: dict[str, str] = {}
    rows = await session.execute(
        select(
            Case.category_id,
            Case.proposed_category_id,
            Case.channel,
            Case.department_id,
            Case.proposed_department_id,
            Case.request_type,
            Case.proposed_request_type,
            Case.subject,
        )
        .where(Case.created_at >= start, Case.created_at < end, ~DISCARDED)
        .order_by(Case.created_at, Case.number)  # the example of each problem is its first case
    )
    total = 0
    for category, proposed, channel, department, proposed_department, request_type, proposed_type, subject in rows:
        total += 1
        cat = category or proposed or "unclassified"
        by_category[cat] += 1
        # Masked before it is cut: a report goes to leaders who must not read citizens' phone or ID numbers.
        examples.setdefault(cat, mask(subject)[:60])
        by_channel[channel] += 1
        by_department[department or proposed_department or "unassigned"] += 1
        by_type[request_type or proposed_type or "未分类"] += 1
    discarded = await session.scalar(
        select(func.count()).where(Case.created_at >= start, Case.created_at < end, DISCARDED)
    )
    stats = await department_stats(session, start=start, end=end, now=now)
    slowest = sorted(
        (s for s in stats if s["first_response_minutes_median"] is not None),
        key=lambda s: -float(s["first_response_minutes_median"]),
    )[:5]

    def named(counter: Counter[str], names: dict[str, str]) -> list[dict[str, Any]]:
        return [{"id": k, "name": names.get(k, k), "count": v} for k, v in counter.most_common()]

    return {
        "title": f"市民诉求{'周' if kind == 'weekly' else '月'}报 {title}",
        "period": kind,
        "from": start.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        "total": total,
        "discarded": int(discarded or 0),  # spam and duplicates, left out of everything else
        "by_category": named(by_category, {**categories, "unclassified": "未分类"}),
        "by_channel": named(by_channel, CHANNEL_NAMES),
        "by_department": named(by_department, {**departments, "unassigned": "未分派"}),
        "by_request_type": named(by_type, {}),
        "top_problems": [
            {"category": categories.get(k, "未分类"), "count": v, "example": examples[k]}
            for k, v in by_category.most_common(10)
        ],
        "slowest_departments": [
            {
                "name": s["name"],
                "first_response_minutes_median": s["first_response_minutes_median"],
                "first_response_on_time_rate": s["first_response_on_time_rate"],
                "received": s["received"],
            }
            for s in slowest
        ],
        "departments": stats,
    }


# A cell starting with one of these is a formula to a spreadsheet program (CSV injection); names come from
# administrators and the taxonomy, but a report travels further than they do.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _TextCells:
    """A csv writer whose text cells never read as formulas: such a cell gets a leading apostrophe."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow(
            [f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) else cell for cell in row]
        )


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = _TextCells(out)
    writer.writerow(["section", "name", "count"])
    for section in ("by_category", "by_channel", "by_department", "by_request_type"):
        for row in report[section]:
            writer.writerow([section, row["name"], row["count"]])
    writer.writerow([])
    columns = [
        "rank",
        "name",
        "received",
        "closed",
        "closure_rate",
        "first_response_minutes_median",
        "first_response_minutes_p90",
        "first_response_on_time_rate",
        "resolution_on_time_rate",
        "transfers_in",
        "transfers_out",
        "returned",
        "reopened",
        "overdue_now",
        "satisfaction",
    ]
    writer.writerow(["department", *columns])
    for row in report["departments"]:
        writer.writerow(["department", *("" if row[c] is None else row[c] for c in columns)])
    return "\ufeff" + out.getvalue()  # the BOM makes spreadsheet programs read the Chinese correctly


def _bars(rows: list[dict[str, Any]], *, label: str = "name", value: str = "count", unit: str = "") -> str:
    """A horizontal bar chart as inline SVG: no scripts, prints and archives as it is."""
    rows = rows[:12]
    if not rows:
        return "<p>（无数据）</p>"
    top = max(float(r[value] or 0) for r in rows) or 1.0
    height = 26 * len(rows) + 10
    parts = [f'<svg role="img" width="640" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, row in enumerate(rows):
        amount = float(row[value] or 0)
        y = 8 + i * 26
        width = int(380 * amount / top)
        parts.append(
            f'<text x="170" y="{y + 14}" text-anchor="end" font-size="13">{escape(str(row[label]))}</text>'
            f'<rect x="180" y="{y}" width="{max(width, 1)}" height="18" fill="#2f6fab"/>'
            f'<text x="{186 + width}" y="{y + 14}" font-size="12">{amount:g}{unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
        head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{escape('' if r.get(k) is None else str(r.get(k)))}</td>" for k, _ in columns)
            + "</tr>"
            for r in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    ranking = table(
        report["departments"],
        [
            ("rank", "排名"),
            ("name", "部门"),
            ("received", "受理"),
            ("closure_rate", "办结率"),
            ("first_response_on_time_rate", "首次响应及时率"),
            ("first_response_minutes_median", "首次响应中位数(分钟)"),
            ("transfers_out", "转出"),
            ("returned", "退回"),
            ("reopened", "重办"),
            ("overdue_now", "当前超期"),
            ("satisfaction", "满意度"),
        ],
    )
    problems = table(report["top_problems"], [("category", "类别"), ("count", "件数"), ("example", "示例")])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(report["title"])}</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:900px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;width:100%;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}
th{{background:#eef3f8}}h2{{border-bottom:2px solid #2f6fab;padding-bottom:4px}}</style></head><body>
<h1>{escape(report["title"])}</h1>
<p>统计期间：{report["from"]} 至 {report["to"]}；共收到诉求 <strong>{report["total"]}</strong> 件\
（另有无效信息 {report["discarded"]} 件未计入）。</p>
<h2>诉求类别</h2>{_bars(report["by_category"])}
<h2>来源渠道</h2>{_bars(report["by_channel"])}
<h2>诉求类型</h2>{_bars(report["by_request_type"])}
<h2>承办部门</h2>{_bars(report["by_department"])}
<h2>高频问题</h2>{problems}
<h2>响应最慢的部门</h2>{_bars(report["slowest_departments"], value="first_response_minutes_median", unit="分钟")}
<h2>部门排名</h2>{ranking}
</body></html>
"""
