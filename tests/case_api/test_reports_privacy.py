"""Reports go to leaders: the example text of each top problem is a citizen's message, with its numbers masked."""

from __future__ import annotations

from tests.case_api.factories import routed
from tests.case_api.test_cases_http import Api, api  # noqa: F401 - the fixture


async def test_reports_do_not_carry_citizens_phone_or_id_numbers(api: Api) -> None:  # noqa: F811
    await api.seed(routed("m1", text="13800000000 张三 身份证110101199003071234 物业乱收费"))
    supervisor = await api.as_user("sup-rep", "supervisor")
    for fmt in ("json", "html"):
        report = await api.client.get("/api/v1/reports/monthly", params={"format": fmt}, headers=supervisor)
        assert report.status_code == 200
        assert "13800000000" not in report.text and "110101199003071234" not in report.text, fmt
        assert "138****0000" in report.text, fmt  # still the citizen's words, numbers masked
