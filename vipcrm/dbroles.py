"""Schema owner versus application role on PostgreSQL.

The application connects as ``DATABASE_URL``'s role, which must not own the tables
(nor be superuser or BYPASSRLS) so that Row-Level Security binds it. ``migrate`` runs
as ``DATABASE_OWNER_URL``'s role and then grants the application role the data rights
it needs on every table, and no more (no TRUNCATE, no DDL).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.db import connections


@contextlib.contextmanager
def as_schema_owner(using: str = "default") -> Iterator[str | None]:
    """Reconnect ``using`` as the schema owner for the block; yields the app role's name.

    Without ``DATABASE_OWNER_URL`` (SQLite, or one role for everything) it does nothing.
    """
    owner = getattr(settings, "DATABASE_OWNER", None)
    conn = connections[using]
    if not owner or conn.vendor != "postgresql":
        yield None
        return
    if "_APP_USER" in conn.settings_dict:  # already the owner (nested: the test runner)
        yield conn.settings_dict["_APP_USER"]
        return
    app_user, app_password = conn.settings_dict["USER"], conn.settings_dict["PASSWORD"]
    conn.close()
    conn.settings_dict.update(USER=owner["USER"], PASSWORD=owner["PASSWORD"], _APP_USER=app_user)
    try:
        yield app_user
    finally:
        conn.close()
        conn.settings_dict.update(USER=app_user, PASSWORD=app_password)
        conn.settings_dict.pop("_APP_USER", None)


def grant_app_role(app_role: str, using: str = "default") -> None:
    """Give the application role DML on every table and sequence of the schema."""
    conn = connections[using]
    qn = conn.ops.quote_name
    with conn.cursor() as cursor:
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {qn(app_role)}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {qn(app_role)}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {qn(app_role)}")
