"""Coaching notes (kpi.inputs.coaching_note_create, kpi.selectors.coaching_notes and the
page coaching/<staff id>/): who writes to whom, who reads what — the RM, the author and
head office only — every refusal with nothing written, and query counts."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from kpi.inputs import coaching_note_create
from kpi.models import CoachingNote
from kpi.selectors import coaching_notes
from tests.factories import CoachingNoteFactory, StaffFactory
from vipcrm.models import AuditEntry, Notification, StaffProfile
from vipcrm.notifications import notification_text
from vipcrm.roles import Actor, Role
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_messages():
    """The services' messages in English (the bank's default language is Chinese)."""
    with translation.override("en"):
        yield


DAY = datetime.timedelta(days=1)
D = datetime.date


def today() -> datetime.date:
    return timezone.localdate()


def url(staff) -> str:
    return reverse("kpi:coaching", args=[staff.pk])


def notes(bank) -> list[tuple]:
    with tenant_context(bank.tenant):
        return list(CoachingNote.objects.order_by("id").values_list("rm__code", "author__code"))


def write(bank, author, rm, **kwargs):
    arguments = {"text": "周一上午集中回访到期客户", **kwargs}
    with tenant_context(bank.tenant):
        return coaching_note_create(actor=Actor.for_staff(author), rm=rm, **arguments)


@pytest.fixture
def second_supervisor(bank_a):
    """Another supervisor of the same city branch."""
    return StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.SUPERVISOR, code="S2")


# --- Writing ---------------------------------------------------------------------------------


def test_a_supervisor_writes_to_an_rm_of_their_branches_and_it_is_audited(bank_a):
    note = write(
        bank_a, bank_a.supervisor, bank_a.rm, focus="process", follow_up_on=today() + DAY * 7
    )
    assert (note.author, note.focus, note.follow_up_on) == (
        bank_a.supervisor,
        "process",
        today() + DAY * 7,
    )
    with tenant_context(bank_a.tenant):
        entry = AuditEntry.objects.get(object_type="kpi.coachingnote")
    assert entry.detail == {
        "rm": "R1",
        "focus": "process",
        "follow_up_on": (today() + DAY * 7).isoformat(),
    }


def test_the_rm_is_notified_and_the_notification_opens_their_notes(login, bank_a):
    write(bank_a, bank_a.supervisor, bank_a.rm, focus="process", follow_up_on=D(2099, 12, 10))
    write(bank_a, bank_a.head, bank_a.rm)
    with tenant_context(bank_a.tenant):
        told = list(Notification.objects.order_by("pk"))
    assert [(n.recipient_id, n.kind) for n in told] == [(bank_a.rm.pk, "coaching_note")] * 2
    assert told[0].link == reverse("kpi:coaching", args=[bank_a.rm.pk])
    assert notification_text(told[0]) == (
        f"{bank_a.supervisor.name} left you a coaching note on Process. Follow-up on Dec. 10, 2099."
    )
    assert notification_text(told[1]) == f"{bank_a.head.name} left you a coaching note."
    with translation.override("zh-hans"):
        assert "辅导" in notification_text(told[0])
    assert login(bank_a.rm).get(told[0].link).status_code == 200


def test_a_refused_note_notifies_nobody(bank_a):
    with pytest.raises(ValidationError):
        write(bank_a, bank_a.supervisor, bank_a.rm, text="")
    with tenant_context(bank_a.tenant):
        assert not Notification.objects.exists()


def test_head_office_writes_to_any_rm(bank_a):
    write(bank_a, bank_a.head, bank_a.other_rm)
    assert notes(bank_a) == [("R2", "H1")]


def test_an_rm_outside_the_supervisors_branches_is_not_found(bank_a, bank_b):
    for rm in (bank_a.other_rm, bank_b.rm):
        with pytest.raises(StaffProfile.DoesNotExist):
            write(bank_a, bank_a.supervisor, rm)
    for not_an_rm in (bank_a.advisor, bank_a.head):
        with pytest.raises(StaffProfile.DoesNotExist):
            write(bank_a, bank_a.head, not_an_rm)
    assert notes(bank_a) == []


def test_rms_and_advisors_do_not_write_coaching_notes(bank_a):
    with pytest.raises(PermissionDenied):
        write(bank_a, bank_a.rm, bank_a.rm)  # their own page: a refusal, not "not found"
    for author, rm in [(bank_a.rm, bank_a.other_rm), (bank_a.advisor, bank_a.rm)]:
        with pytest.raises(StaffProfile.DoesNotExist):
            write(bank_a, author, rm)
    assert notes(bank_a) == []


def test_an_author_who_left_the_branch_reads_but_writes_no_more(bank_a):
    moved = StaffFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, role=Role.SUPERVISOR)
    CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=moved)
    with pytest.raises(PermissionDenied):
        write(bank_a, moved, bank_a.rm)
    assert len(notes(bank_a)) == 1


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"text": "  "}, "text"),
        ({"text": "练" * 4001}, "text"),
        ({"focus": "charm"}, "focus"),
        ({"follow_up_on": "yesterday"}, "follow_up_on"),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_written(bank_a, arguments, field):
    if arguments.get("follow_up_on") == "yesterday":
        arguments = {"follow_up_on": today() - DAY}
    with pytest.raises(ValidationError) as refused:
        write(bank_a, bank_a.supervisor, bank_a.rm, **arguments)
    assert list(refused.value.message_dict) == [field]
    assert notes(bank_a) == []


def test_an_inactive_rm_gets_no_new_notes(bank_a):
    former = StaffFactory(tenant=bank_a.tenant, branch=bank_a.sub, role=Role.RM, is_active=False)
    with pytest.raises(ValidationError) as refused:
        write(bank_a, bank_a.supervisor, former)
    assert refused.value.messages == ["This RM is no longer active."]


# --- Reading ---------------------------------------------------------------------------------


def test_notes_are_read_by_the_rm_the_author_and_head_office_only(bank_a, second_supervisor):
    mine = CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=bank_a.supervisor)
    colleagues = CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=second_supervisor)
    elsewhere = CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.other_rm, author=bank_a.head)

    def read(staff, rm=None):
        with tenant_context(bank_a.tenant):
            return set(coaching_notes(actor=Actor.for_staff(staff), rm=rm))

    assert read(bank_a.rm) == {mine, colleagues}
    assert read(bank_a.supervisor) == {mine}
    assert read(second_supervisor) == {colleagues}
    assert read(bank_a.head) == {mine, colleagues, elsewhere}
    assert read(bank_a.head, rm=bank_a.rm) == {mine, colleagues}
    assert read(bank_a.advisor) == set() and read(bank_a.other_rm) == {elsewhere}
    with tenant_context(bank_a.tenant):
        token = Actor(tenant_id=bank_a.tenant.pk, scopes=frozenset({"read"}))
        assert not coaching_notes(actor=token).exists()


# --- The page ---------------------------------------------------------------------------------


def test_a_supervisor_writes_a_note_in_the_page(login, english, bank_a):
    http = login(bank_a.supervisor)
    page = http.get(url(bank_a.rm))
    assert page.status_code == 200
    content = page.content.decode()
    for name in ("text", "focus", "follow_up_on"):
        assert f'name="{name}"' in content
    assert 'type="submit"' in content
    response = http.post(
        url(bank_a.rm),
        {"text": "加强资产配置建议", "focus": "results", "follow_up_on": today().isoformat()},
    )
    assert response.status_code == 302 and response["Location"] == url(bank_a.rm)
    page = http.get(url(bank_a.rm)).content.decode()
    assert "加强资产配置建议" in page and "Results" in page
    assert "they see it on this page" in page
    assert notes(bank_a) == [("R1", "S1")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": ""}, "This field is required."),
        ({"text": "x", "focus": "charm"}, "Select a valid choice."),
        ({"text": "x", "follow_up_on": "2026-02-30"}, "Enter a valid date."),
        ({"text": "x", "follow_up_on": "2001-01-01"}, "The follow-up cannot be in the past."),
    ],
)
def test_bad_input_in_the_page_is_a_400_and_nothing_is_written(
    login, english, bank_a, data, message
):
    response = login(bank_a.supervisor).post(url(bank_a.rm), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert notes(bank_a) == []


def test_the_rm_reads_their_notes_with_no_form(login, english, bank_a, second_supervisor):
    CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=second_supervisor, text="甲")
    http = login(bank_a.rm)
    response = http.get(url(bank_a.rm))
    assert response.status_code == 200 and response.context["form"] is None
    page = response.content.decode()
    assert "My coaching notes" in page and "甲" in page
    assert http.post(url(bank_a.rm), {"text": "给自己写"}).status_code == 403
    assert notes(bank_a) == [("R1", "S2")]


def test_the_page_is_a_404_for_everyone_else(login, bank_a, bank_b):
    cases = [
        (bank_a.rm, bank_a.other_rm),
        (bank_a.advisor, bank_a.rm),
        (bank_a.supervisor, bank_a.other_rm),
        (bank_a.head, bank_a.advisor),  # not an RM
        (bank_a.head, bank_a.supervisor),
        (bank_a.head, bank_b.rm),
    ]
    for viewer, rm in cases:
        http = login(viewer)
        assert http.get(url(rm)).status_code == 404, (viewer, rm)
        assert http.post(url(rm), {"text": "x"}).status_code == 404
    assert login(bank_a.head).get(reverse("kpi:coaching", args=[999999])).status_code == 404
    assert notes(bank_a) == []


def test_an_author_who_moved_reads_their_notes_but_has_no_form(login, english, bank_a):
    moved = StaffFactory(tenant=bank_a.tenant, branch=bank_a.other_sub, role=Role.SUPERVISOR)
    CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=moved, text="旧笔记")
    http = login(moved)
    response = http.get(url(bank_a.rm))
    assert response.status_code == 200 and response.context["form"] is None
    assert "旧笔记" in response.content.decode()
    assert http.post(url(bank_a.rm), {"text": "新笔记"}).status_code == 403


def test_the_page_costs_the_same_queries_for_few_or_many_notes(
    login, bank_a, django_assert_max_num_queries
):
    http = login(bank_a.head)
    CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=bank_a.supervisor)
    with CaptureQueriesContext(connection) as few:
        http.get(url(bank_a.rm))
    for n in range(20):
        author = StaffFactory(tenant=bank_a.tenant, branch=bank_a.city, role=Role.SUPERVISOR)
        CoachingNoteFactory(tenant=bank_a.tenant, rm=bank_a.rm, author=author, text=f"笔记{n}")
    with django_assert_max_num_queries(len(few)):
        assert len(http.get(url(bank_a.rm)).context["notes"]) == 21
