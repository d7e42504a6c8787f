"""Settings come from the environment; production refuses to start without secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def run_check(env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_the_secret_key():
    result = run_check(
        {
            "DJANGO_SETTINGS_MODULE": "vipcrm.settings.production",
            "DJANGO_ALLOWED_HOSTS": "crm.example.com",
        }
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_starts_with_its_secrets():
    result = run_check(
        {
            "DJANGO_SETTINGS_MODULE": "vipcrm.settings.production",
            "DJANGO_ALLOWED_HOSTS": "crm.example.com",
            "DJANGO_SECRET_KEY": "x" * 60,
        }
    )
    assert result.returncode == 0, result.stderr


def test_the_defaults_suit_a_chinese_bank():
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]
    assert settings.DATABASES["default"]["ATOMIC_REQUESTS"] is True


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set")
def test_the_redis_broker_is_reachable():
    from kombu import Connection

    with Connection(os.environ["REDIS_URL"]) as conn:
        conn.ensure_connection(max_retries=2)
        channel = conn.channel()
        assert channel.client.ping()
