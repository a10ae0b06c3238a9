"""A year of cases for the read benchmarks, generated inside PostgreSQL with INSERT … SELECT generate_series.

One million cases load in a minute or two because no row crosses the wire. The data is shaped like a city's
year: cases spread evenly over 365 days; almost everything older than two weeks is closed (1 % got stuck); the
last two weeks are a working mix. Deadlines, SLA states and escalations are consistent with the clock, so the
SLA sweeper has nothing to do while reads are measured. Per case: one inbound message (every other case a
follow-up too), the lead department, one reply once answered; every 20th case was transferred once.
"""

from __future__ import annotations

import asyncpg

SUBJECTS = (
    "小区门口路灯坏了好几天，晚上很危险",
    "公司拖欠工资三个月了，老板一直不给",
    "楼上装修噪音太大，周末一大早就开始",
    "小区物业乱收费，电梯坏了一个月没人修",
    "文华北路修路，早上堵车严重",
    "小区门口垃圾三天没人清运",
    "孩子学校食堂卫生条件差",
    "餐馆后厨卫生堪忧，吃完拉肚子",
    "河道有异味，怀疑有人偷排污水",
    "公交车经常不按时到站",
    "网购商品质量问题商家拒绝退货",
    "夜市摊位占道经营影响通行",
)
# (category, department), in the taxonomy's ids.
ROUTES = (
    ("city-appearance", "urban-management"),
    ("labour", "hr-social"),
    ("construction-noise", "urban-management"),
    ("housing-property", "housing"),
    ("transport", "transport"),
    ("city-appearance", "urban-management"),
    ("education", "education"),
    ("health", "health"),
    ("environment", "environment"),
    ("transport", "transport"),
    ("market-consumer", "market"),
    ("city-appearance", "urban-management"),
)


def _array(values: tuple[str, ...]) -> str:
    return "(ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "])"


def statements(n: int) -> list[str]:
    subjects, categories = _array(SUBJECTS), _array(tuple(c for c, _ in ROUTES))
    departments = _array(tuple(d for _, d in ROUTES))
    contacts = max(1, n // 2)
    # `k` picks subject and route; `p` (0..99) the status. Derived from i so a run is reproducible.
    return [
        f"""
        INSERT INTO contacts (id, channel, account_id, sender_id, display_name, created_at, last_seen_at, person_id)
        SELECT md5('c' || j)::uuid, (ARRAY['wechat','weibo','alipay'])[j % 3 + 1],
               'city-' || (ARRAY['wechat','weibo','alipay'])[j % 3 + 1], 'bench-sender-' || j, NULL,
               now() - interval '400 days', now(), md5('c' || j)::uuid
        FROM generate_series(0, {contacts - 1}) AS j
        """,
        f"""
        CREATE TEMP TABLE gen AS
        SELECT i, (i * 7) % 12 + 1 AS k, (i * 37) % 100 AS p,
               now() - (i::float8 / {n} * interval '365 days') AS created
        FROM generate_series(1, {n}) AS i
        """,
        """
        ALTER TABLE gen ADD COLUMN status text;
        UPDATE gen SET status = CASE
            WHEN created < now() - interval '14 days' THEN (CASE WHEN p = 0 THEN 'dispatched' ELSE 'closed' END)
            WHEN p < 10 THEN 'new' WHEN p < 15 THEN 'accepted' WHEN p < 20 THEN 'classified'
            WHEN p < 45 THEN 'dispatched' WHEN p < 60 THEN 'replied' ELSE 'closed' END
        """,
        f"""
        INSERT INTO cases (id, number, status, channel, account_id, contact_id, subject, category_id, department_id,
            request_type, proposed_category_id, proposed_department_id, proposed_request_type, proposal_confidence,
            proposal, message_count, created_at, updated_at, last_message_at, closed_at, first_response_due_at,
            resolution_due_at, due_at, first_responded_at, replied_at, escalated, escalated_at, reopen_count,
            transfer_count, version, warn_at, sla_state, breached_at, rating, rated_at)
        SELECT md5('case' || i)::uuid,
               to_char(created AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || '-' || lpad(i::text, 7, '0'),
               status, (ARRAY['wechat','weibo','alipay'])[i % 3 + 1],
               'city-' || (ARRAY['wechat','weibo','alipay'])[i % 3 + 1],
               md5('c' || (i % {contacts}))::uuid, {subjects}[k] || ' #' || i,
               CASE WHEN status IN ('new', 'accepted') THEN NULL ELSE {categories}[k] END,
               CASE WHEN status IN ('new', 'accepted', 'classified') THEN NULL ELSE {departments}[k] END,
               '投诉/求助', {categories}[k], {departments}[k], '投诉/求助', 0.8,
               jsonb_build_object('category', {categories}[k], 'department', {departments}[k],
                                  'request_type', '投诉/求助', 'confidence', 0.8, 'decided_by', 'rule'),
               1 + i % 2, created, created, created,
               CASE WHEN status = 'closed' THEN created + interval '2 days' END,
               created + interval '1 hour', created + interval '5 days',
               CASE WHEN status IN ('new', 'accepted', 'classified') THEN created + interval '1 hour'
                    WHEN status = 'dispatched' THEN created + interval '5 days' END,
               CASE WHEN status IN ('dispatched', 'replied', 'closed')
                    THEN created + (i % 90) * interval '1 minute' END,
               CASE WHEN status IN ('replied', 'closed') THEN created + (i % 7000) * interval '1 minute' END,
               false, NULL, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, CASE WHEN i % 20 = 0 THEN 1 ELSE 0 END, 1,
               NULL, 'ok', NULL,
               CASE WHEN status = 'closed' AND i % 5 <> 0 THEN 1 + i % 5 END,
               CASE WHEN status = 'closed' AND i % 5 <> 0 THEN created + interval '3 days' END
        FROM gen
        """,
        # Deadlines as the sweeper would have left them: breached (and escalated) once passed, warning at 80 %.
        """
        UPDATE cases SET warn_at = created_at + (due_at - created_at) * 0.8,
            sla_state = CASE WHEN due_at <= now() THEN 'breached'
                             WHEN created_at + (due_at - created_at) * 0.8 <= now() THEN 'warning' ELSE 'ok' END,
            breached_at = CASE WHEN due_at <= now() THEN due_at END,
            escalated = due_at <= now(), escalated_at = CASE WHEN due_at <= now() THEN due_at END
        WHERE due_at IS NOT NULL
        """,
        """
        INSERT INTO messages (id, dedupe_key, case_id, contact_id, direction, channel, account_id,
            platform_message_id, kind, text, attachments, location, event, routing, raw, sent_at, received_at)
        SELECT md5('m' || g.i || '-' || s)::uuid, c.channel || ':' || c.account_id || ':bench-' || g.i || '-' || s,
               c.id, c.contact_id, 'in', c.channel, c.account_id, 'bench-' || g.i || '-' || s, 'text',
               CASE WHEN s = 0 THEN c.subject ELSE '还没有人处理吗？' END, '[]'::jsonb, NULL, NULL, c.proposal,
               '<xml/>', c.created_at + s * interval '1 hour', c.created_at + s * interval '1 hour'
        FROM gen g JOIN cases c ON c.id = md5('case' || g.i)::uuid
        CROSS JOIN LATERAL generate_series(0, g.i % 2) AS s
        """,
        """
        INSERT INTO case_departments (case_id, department_id, role, part, status, created_at, completed_at, note)
        SELECT id, department_id, 'lead', '', CASE WHEN status IN ('replied', 'closed') THEN 'done' ELSE 'open' END,
               created_at, replied_at, NULL
        FROM cases WHERE department_id IS NOT NULL
        """,
        """
        INSERT INTO replies (id, case_id, text, interim, automatic, promised_at, status, attempts, platform_code,
            reason, created_by, created_at, finished_at)
        SELECT md5('r' || id::text)::uuid, id, '您好，您反映的问题已处理。', false, false, NULL, 'delivered', 1, NULL,
               NULL, 'bench-handler', replied_at, replied_at
        FROM cases WHERE replied_at IS NOT NULL
        """,
        """
        INSERT INTO case_transfers (id, case_id, from_department_id, to_department_id, reason, actor, at)
        SELECT md5('t' || id::text)::uuid, id, 'health', department_id, '不属于本部门', 'bench-handler',
               created_at + interval '30 minutes'
        FROM cases WHERE transfer_count > 0 AND department_id IS NOT NULL
        """,
        "DROP TABLE gen",
    ]


async def generate(dsn: str, n: int) -> None:
    """Fill a migrated, seeded (departments, categories) database with `n` cases, then ANALYZE it."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for sql in statements(n):
            await conn.execute(sql)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
