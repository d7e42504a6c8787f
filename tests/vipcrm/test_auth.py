"""Logins, lockout and API tokens."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.factories import TEST_PASSWORD
from vipcrm.authentication import hash_token_key
from vipcrm.models import APIToken, AuditEntry
from vipcrm.services import ServiceError, api_token_create, api_token_revoke
from vipcrm.tenancy import tenant_context

pytestmark = pytest.mark.django_db


def post_login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_with_the_right_password_lands_on_my_day(client, bank_a):
    response = post_login(client, bank_a.rm.user.username, TEST_PASSWORD)
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_wrong_password_shows_a_clear_message_in_chinese(client, bank_a):
    response = post_login(client, bank_a.rm.user.username, "wrong-password")
    assert response.status_code == 200
    assert "请输入一个正确的" in response.content.decode()


def test_repeated_failures_lock_the_account_out(client, bank_a, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, bank_a.rm.user.username, "wrong-password")
    client.cookies["django_language"] = "en"
    response = post_login(client, bank_a.rm.user.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_and_failed_login_are_audited(client, bank_a):
    post_login(client, bank_a.rm.user.username, "wrong-password")
    post_login(client, bank_a.rm.user.username, TEST_PASSWORD)
    with tenant_context(bank_a.tenant):
        actions = list(AuditEntry.objects.order_by("at", "id").values_list("action", flat=True))
    assert actions == ["login_failed", "login"]


def test_token_is_stored_hashed_and_shown_once(bank_a):
    token, key = api_token_create(tenant=bank_a.tenant, name="core", scopes=["read", "write"])
    stored = APIToken.objects.get(pk=token.pk)
    assert key.startswith("vip_") and len(key) > 40
    assert stored.key_hash == hash_token_key(key)
    assert key not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.scopes == ["read", "write"]


def test_create_api_token_command_prints_the_key(bank_a, capsys):
    call_command("create_api_token", tenant="bank-a", name="core", scopes="read,write")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert APIToken.objects.get(name="core").key_hash == hash_token_key(key)


def test_create_api_token_refuses_bad_input(bank_a):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_api_token", tenant="nope", name="core")
    with pytest.raises(CommandError, match="Scopes"):
        call_command("create_api_token", tenant="bank-a", name="core", scopes="admin")
    api_token_create(tenant=bank_a.tenant, name="core", scopes=["read"])
    with pytest.raises(ServiceError, match="already has an active token"):
        api_token_create(tenant=bank_a.tenant, name="core", scopes=["read"])


def api_get(client, path, key):
    return client.get(path, HTTP_AUTHORIZATION=f"Token {key}")


def test_token_reads_its_own_tenant(client, bank_a, bank_b):
    _, key = api_token_create(tenant=bank_a.tenant, name="core", scopes=["read"])
    response = api_get(client, "/api/v1/branches/", key)
    assert response.status_code == 200
    codes = [row["code"] for row in response.json()["results"]]
    assert sorted(codes) == ["BJ", "BJ01", "HQ", "SH01"]
    assert api_get(client, "/api/v1/staff/H1/", key).json()["name"] == bank_a.head.name


@pytest.mark.parametrize("header", ["Token vip_not-a-real-key", "Token", "Token a b"])
def test_bad_token_is_a_401_in_json(client, bank_a, header):
    response = client.get("/api/v1/branches/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()
    assert response["WWW-Authenticate"] == "Token"


def test_no_credentials_is_a_401(client, bank_a):
    assert client.get("/api/v1/branches/").status_code == 401


def test_revoked_token_stops_working_at_once(client, bank_a):
    _, key = api_token_create(tenant=bank_a.tenant, name="core", scopes=["read"])
    assert api_get(client, "/api/v1/branches/", key).status_code == 200
    call_command("revoke_api_token", tenant="bank-a", name="core")
    assert api_get(client, "/api/v1/branches/", key).status_code == 401
    with pytest.raises(ServiceError):
        api_token_revoke(tenant=bank_a.tenant, name="core")


def test_read_token_cannot_write(client, bank_a):
    _, key = api_token_create(tenant=bank_a.tenant, name="reader", scopes=["read"])
    client.cookies["django_language"] = "en"
    response = client.post(
        "/api/v1/branches/", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]


def test_inactive_tenant_tokens_are_refused(client, bank_a):
    _, key = api_token_create(tenant=bank_a.tenant, name="core", scopes=["read"])
    bank_a.tenant.is_active = False
    bank_a.tenant.save()
    assert api_get(client, "/api/v1/branches/", key).status_code == 401


def test_staff_session_reads_the_api_within_their_scope(client, bank_a):
    client.force_login(bank_a.rm.user)
    codes = [row["code"] for row in client.get("/api/v1/staff/").json()["results"]]
    assert codes == ["R1"]


def test_tenant_staff_cannot_use_the_django_admin(client, bank_a):
    client.force_login(bank_a.head.user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response.url
