"""A supervisor coaches from the branch dashboard in Chromium: opens it from the menu,
reads the RMs' ranking and the charts (inline SVG, no script), drills from an RM's
overdue figure into the contacts behind it — the same number of rows, the clients
named — and leaves the RM a coaching note from the ranking."""

import datetime

import pytest
from django.utils import timezone

from contact_plans.models import PlannedContact
from kpi.models import CoachingNote, KpiSnapshot
from kpi.periods import period_start
from kpi.services import kpi_snapshot_take
from tests.factories import (
    TEST_PASSWORD,
    ClientFactory,
    PlannedContactFactory,
    TierFactory,
    TimeLogFactory,
)
from vipcrm.tenancy import tenant_context


@pytest.mark.django_db(transaction=True)
def test_a_supervisor_drills_into_overdue_clients_and_leaves_a_coaching_note(
    live_server, page, bank_a
):
    today = timezone.localdate()
    tier = TierFactory(tenant=bank_a.tenant, name="钻石")
    names = ["欧阳娜娜", "司马光"]
    for n, name in enumerate(names):
        client = ClientFactory(
            tenant=bank_a.tenant, branch=bank_a.sub, owner_rm=bank_a.rm, tier=tier, name=name
        )
        PlannedContactFactory(
            tenant=bank_a.tenant,
            client=client,
            assigned_to=bank_a.rm,
            due_on=today - datetime.timedelta(days=10 + n),
            status=PlannedContact.Status.OVERDUE,
        )
    TimeLogFactory(tenant=bank_a.tenant, staff=bank_a.rm, date=today, hours=5)
    with tenant_context(bank_a.tenant):
        kpi_snapshot_take(period="month", start=period_start("month", today), as_of=today)
        snapshot = KpiSnapshot.objects.get(period="month", scope_key=f"rm:{bank_a.rm.pk}")
    assert snapshot.values["overdue_count"] == 2

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(bank_a.supervisor.user.username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server.url}/")

    # The menu's Scorecard entry opens the supervisor's branch.
    with page.expect_navigation():
        page.locator('.mainnav a[href="/kpi/"]').click()
    assert f"/kpi/branches/{bank_a.city.pk}/" in page.url
    ranking = page.locator(".kpiranking")
    assert bank_a.rm.name in ranking.inner_text()
    assert page.locator(".kpichart svg.chart--bars").count() >= 2  # pipeline, the 70% rule
    assert page.locator("body script").count() == 0

    # Drill from the RM's overdue figure into the contacts behind it.
    overdue = page.locator(
        f'.kpifigures a[href*="/kpi/drill/overdue_contacts/"][href*="rm%3A{bank_a.rm.pk}"]'
    )
    assert overdue.inner_text() == "2"
    with page.expect_navigation():
        overdue.click()
    rows = page.locator(".kpidrill tbody tr")
    assert rows.count() == 2
    listed = page.locator(".kpidrill").inner_text()
    assert all(name in listed for name in names)
    assert page.locator(".kpidrill__current td strong").inner_text() == "2"

    # The list leads to the RM's scorecard; back to the dashboard, and a coaching note for
    # the RM from the ranking.
    assert f"/kpi/rm/{bank_a.rm.pk}/" in page.locator(".breadcrumb a").get_attribute("href")
    page.go_back()
    with page.expect_navigation():
        page.locator(f'.kpiranking a[href="/kpi/coaching/{bank_a.rm.pk}/"]').click()
    page.locator("#coaching-text").fill("本月两位客户联系逾期，请本周内完成回访并更新联系计划")
    page.locator("#coaching-focus").select_option("process")
    page.locator("#coaching-follow_up_on").fill((today + datetime.timedelta(days=7)).isoformat())
    with page.expect_navigation():
        page.locator('form[method="post"] button[type=submit]').last.click()
    page.wait_for_load_state("networkidle")
    assert "本周内完成回访" in page.content()

    with tenant_context(bank_a.tenant):
        note = CoachingNote.objects.get()
    assert (note.rm_id, note.author_id, note.focus) == (
        bank_a.rm.pk,
        bank_a.supervisor.pk,
        "process",
    )
