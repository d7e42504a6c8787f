"""Bulk upsert from core banking: ``POST /api/v1/sync/<kind>/``.

The contract is ``shared/spec/sync-api.md``; this module implements its semantics:

- every record is validated on its own (pydantic); invalid ones are reported with their
  index, key and per-field messages, valid ones are applied;
- references (``branch_code``, ``rm_code``, ``client_external_id``…) resolve within the
  current tenant or, for a kind that refers to itself (a branch's parent, a client's
  company), to an *earlier* valid record of the same batch; another tenant's code is
  simply unknown;
- records apply in order: on update an omitted optional field keeps its value and
  ``null`` clears it; an identical record is counted ``unchanged`` and not written.

A batch costs a constant number of queries whatever its size (pinned by tests): one
query per reference kind, one for the existing rows of the batch's keys, and one
``INSERT … SELECT FROM <JSON array> … ON CONFLICT DO UPDATE`` for every new or changed
row (plus one more for same-batch references, and the kind's follow-ups: risk history,
AUM). The rows travel as a single JSON parameter because Django's ``bulk_create`` splits
large batches into many statements on SQLite (999 parameters per query), and because one
parameter per batch is also the fastest way to hand PostgreSQL 5,000 rows. The caller
runs this inside the request's transaction, bound to its tenant.
"""

import datetime
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, ClassVar, NoReturn

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from customers.aum import client_aum_refresh
from customers.models import (
    Client,
    FxRate,
    Holding,
    Product,
    ProductRisk,
    RiskAssessment,
    RiskLevel,
)
from customers.validators import id_number_error, mobile_error
from vipcrm.models import Branch, StaffProfile
from vipcrm.roles import Role
from vipcrm.tenancy import current_tenant_id

MAX_RECORDS = 5000
NON_FIELD = "non_field_errors"


class BatchRefused(Exception):
    """The whole batch is refused (400): not JSON, no ``records`` list, too many records."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# --- Field types: one function per kind of value, with the contract's messages ---------


def _invalid(message: Any) -> NoReturn:
    raise PydanticCustomError("invalid", "{message}", {"message": str(message)})


def _text(max_length: int, *, blank: bool = False):
    def check(value: Any) -> str:
        if not isinstance(value, str):
            _invalid(_("Must be a string."))
        value = value.strip()
        if not value and not blank:
            _invalid(_("May not be blank."))
        if len(value) > max_length:
            _invalid(_("At most %(limit)d characters.") % {"limit": max_length})
        return value

    return check


def _choice(choices: tuple[str, ...]):
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            _invalid(_("Must be one of: %(choices)s.") % {"choices": ", ".join(choices)})
        return value

    return check


DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DECIMAL_PATTERN = re.compile(r"^-?\d+(?:\.\d+)?$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


def _date(value: Any) -> datetime.date:
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        _invalid(_("Must be a date as YYYY-MM-DD."))
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        _invalid(_("Not a real date."))


def _decimal(max_digits: int, places: int, *, positive: bool = False):
    quantum = Decimal(1).scaleb(-places)
    limit = Decimal(10) ** (max_digits - places)

    def check(value: Any) -> Decimal:
        # JSON numbers arrive as Decimal (the body is parsed with parse_float=Decimal).
        if isinstance(value, str) and DECIMAL_PATTERN.match(value.strip()):
            number = Decimal(value.strip())
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            number = Decimal(value)
        else:
            _invalid(_('Must be a decimal number in a string, such as "1250000.00".'))
        if not number.is_finite():
            _invalid(_("Must be a finite number."))
        # The size first: quantizing a huge number would overflow the decimal context.
        if abs(number) >= limit:
            _invalid(_("Must be less than %(limit)s.") % {"limit": f"{limit:,.0f}"})
        if number != number.quantize(quantum, rounding=ROUND_DOWN):
            _invalid(_("At most %(places)d decimal places.") % {"places": places})
        if positive and number <= 0:
            _invalid(_("Must be greater than 0."))
        if number < 0:
            _invalid(_("May not be negative."))
        return number.quantize(quantum)

    return check


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not CURRENCY_PATTERN.match(value):
        _invalid(_("Must be an ISO 4217 currency code: three capital letters, such as CNY."))
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        _invalid(_("Must be true or false."))
    return value


def _email(max_length: int):
    text = _text(max_length, blank=True)

    def check(value: Any) -> str:
        value = text(value)
        if value:
            try:
                validate_email(value)
            except DjangoValidationError:
                _invalid(_("Not a valid email address."))
        return value

    return check


def _id_number(value: Any) -> str:
    if not isinstance(value, str):
        _invalid(_("Must be a string."))
    value = value.strip().upper()
    if value and (error := id_number_error(value)):
        _invalid(error)
    return value


def _mobile(value: Any) -> str:
    if not isinstance(value, str):
        _invalid(_("Must be a string."))
    value = value.strip()
    if value and (error := mobile_error(value)):
        _invalid(error)
    return value


def required(check, schema: dict) -> Any:
    """A required field: present and not null."""

    def run(value: Any) -> Any:
        if value is None:
            _invalid(_("This field is required and may not be null."))
        return check(value)

    return Annotated[Any, BeforeValidator(run), WithJsonSchema(schema)]


def optional(check, schema: dict) -> Any:
    """An optional field: omitted keeps the stored value, ``null`` clears it."""

    def run(value: Any) -> Any:
        return None if value is None else check(value)

    return Annotated[Any, BeforeValidator(run), WithJsonSchema({**schema, "nullable": True})]


def _max(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length


def _string(max_length: int) -> dict:
    return {"type": "string", "maxLength": max_length}


DATE_SCHEMA = {"type": "string", "format": "date", "example": "2026-06-30"}
MONEY_SCHEMA = {"type": "string", "format": "decimal", "example": "1250000.00"}
RATE_SCHEMA = {"type": "string", "format": "decimal", "example": "7.12345678"}
CURRENCY_SCHEMA = {"type": "string", "pattern": "^[A-Z]{3}$", "example": "USD"}
BOOLEAN_SCHEMA = {"type": "boolean"}


def _enum(choices: tuple[str, ...]) -> dict:
    # A pattern, not an OpenAPI enum: enum components named after the field would collide
    # with the (labelled) enums of the reading serializers in the generated schema.
    return {
        "type": "string",
        "pattern": f"^({'|'.join(choices)})$",
        "description": f"One of: {', '.join(choices)}.",
    }


ROLES = tuple(Role.values)
CATEGORIES = tuple(Product.Category.values)
PRODUCT_RISKS = tuple(ProductRisk.values)
CLIENT_RISKS = tuple(RiskLevel.values)
GENDERS = tuple(Client.Gender.values)
HOLDING_STATUSES = tuple(Holding.Status.values)


def _required_text(model, name):
    return required(_text(_max(model, name)), _string(_max(model, name)))


def _optional_text(model, name):
    return optional(_text(_max(model, name), blank=True), _string(_max(model, name)))


# --- Records: what each kind accepts (unknown fields are ignored) ------------------------


class SyncRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")


class BranchRecord(SyncRecord):
    code: _required_text(Branch, "code")
    name: _required_text(Branch, "name")
    parent_code: optional(_text(_max(Branch, "code")), _string(_max(Branch, "code"))) = None


class StaffRecord(SyncRecord):
    code: _required_text(StaffProfile, "code")
    name: _required_text(StaffProfile, "name")
    branch_code: _required_text(Branch, "code")
    role: required(_choice(ROLES), _enum(ROLES))
    email: optional(_email(_max(StaffProfile, "email")), {"type": "string", "format": "email"}) = (
        None
    )


class ProductRecord(SyncRecord):
    code: _required_text(Product, "code")
    name: _required_text(Product, "name")
    category: required(_choice(CATEGORIES), _enum(CATEGORIES))
    risk_level: required(_choice(PRODUCT_RISKS), _enum(PRODUCT_RISKS))
    currency: optional(_currency, CURRENCY_SCHEMA) = None


class FxRateRecord(SyncRecord):
    currency: required(_currency, CURRENCY_SCHEMA)
    date: required(_date, DATE_SCHEMA)
    rate_to_cny: required(_decimal(18, 8, positive=True), RATE_SCHEMA)


class ClientRecord(SyncRecord):
    external_id: _required_text(Client, "external_id")
    name: _required_text(Client, "name")
    branch_code: _required_text(Branch, "code")
    rm_code: optional(_text(_max(StaffProfile, "code")), _string(_max(StaffProfile, "code"))) = None
    gender: optional(_choice(GENDERS), _enum(GENDERS)) = None
    birth_date: optional(_date, DATE_SCHEMA) = None
    id_number: optional(
        _id_number, {"type": "string", "pattern": r"^\d{17}[\dX]$", "description": "GB 11643"}
    ) = None
    mobile: optional(_mobile, {"type": "string", "pattern": r"^1[3-9]\d{9}$"}) = None
    email: optional(_email(_max(Client, "email")), {"type": "string", "format": "email"}) = None
    occupation: _optional_text(Client, "occupation") = None
    is_entrepreneur: optional(_boolean, BOOLEAN_SCHEMA) = None
    company_external_id: optional(
        _text(_max(Client, "external_id")), _string(_max(Client, "external_id"))
    ) = None
    risk_level: optional(_choice(CLIENT_RISKS), _enum(CLIENT_RISKS)) = None
    risk_assessed_on: optional(_date, DATE_SCHEMA) = None


class HoldingRecord(SyncRecord):
    external_id: _required_text(Holding, "external_id")
    client_external_id: _required_text(Client, "external_id")
    product_code: _required_text(Product, "code")
    balance: required(_decimal(18, 2), MONEY_SCHEMA)
    currency: optional(_currency, CURRENCY_SCHEMA) = None
    opened_on: optional(_date, DATE_SCHEMA) = None
    matures_on: optional(_date, DATE_SCHEMA) = None
    status: optional(_choice(HOLDING_STATUSES), _enum(HOLDING_STATUSES)) = None


_BUILTIN_MESSAGES = {
    "missing": _("This field is required."),
}


def pydantic_messages(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors as the contract's ``{"field": ["message"]}``."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else NON_FIELD
        message = _BUILTIN_MESSAGES.get(error["type"], error["msg"])
        errors.setdefault(name, []).append(str(message))
    return errors


# --- The result ----------------------------------------------------------------------


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, key: str | None, errors: dict[str, list[str]]) -> None:
        self.errors.append({"index": index, "key": key, "errors": errors})

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.errors,
        }


# --- The set-based write -------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        adapted = connection.ops.adapt_datetimefield_value(value)
        return adapted if isinstance(adapted, str) else adapted.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be written by rows_upsert")


def rows_upsert(
    *,
    model: type[models.Model],
    rows: list[dict[str, Any]],
    conflict: tuple[str, ...],
    update: tuple[str, ...],
    only_if_changed: bool = False,
    returning: tuple[str, ...] = ("id",),
) -> list[tuple]:
    """Insert ``rows`` (dicts of column → value) into the current tenant in ONE statement,
    updating ``update`` columns of rows whose ``conflict`` key exists.

    ``tenant_id`` is always the current tenant (never taken from ``rows``), and
    ``created_at``/``updated_at`` are set to now (``created_at`` only on insert). With
    ``only_if_changed`` a conflicting row is rewritten only if an ``update`` column
    differs. Returns the ``returning`` columns of the rows inserted or updated.
    """
    if not rows:
        return []
    qn = connection.ops.quote_name
    fields = {f.column: f for f in model._meta.concrete_fields}
    columns = list(rows[0])
    payload = json.dumps(
        [[row[column] for column in columns] for row in rows],
        default=_json_default,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = qn(model._meta.db_table)
    if connection.vendor == "postgresql":
        select = [
            f"(r.v->>{i})::{fields[column].cast_db_type(connection)}"
            for i, column in enumerate(columns)
        ]
        source = "json_array_elements(%s::json) AS r(v)"
        distinct = "IS DISTINCT FROM"
    else:
        select = [f"json_extract(r.value, '$[{i}]')" for i in range(len(columns))]
        source = "json_each(%s) AS r"
        distinct = "IS NOT"
    all_columns = [*columns, "tenant_id", "created_at", "updated_at"]
    sets = [f"{qn(c)} = EXCLUDED.{qn(c)}" for c in (*update, "updated_at")]
    # Only quoted identifiers from the model's meta are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in all_columns)}) "  # noqa: S608
        f"SELECT {', '.join(select)}, %s, %s, %s FROM {source} WHERE true "
        f"ON CONFLICT ({', '.join(qn(c) for c in conflict)}) DO UPDATE SET {', '.join(sets)}"
    )
    if only_if_changed:
        changed = " OR ".join(f"{table}.{qn(c)} {distinct} EXCLUDED.{qn(c)}" for c in update)
        sql += f" WHERE {changed}"
    sql += f" RETURNING {', '.join(qn(c) for c in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [current_tenant_id(), now, now, payload])
        return cursor.fetchall()


# --- The engine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """How a record field names another row: ``model.lookup == value`` in the tenant."""

    model: type[models.Model]
    lookup: str
    unknown: Any  # message, formatted with %(value)s
    filters: tuple[tuple[str, Any], ...] = ()
    same_kind: bool = False  # may also name an earlier record of the same batch


@dataclass(frozen=True)
class BatchRef:
    """A reference to a row created earlier in this batch, whose id is not known yet."""

    key: tuple


Key = tuple


class KindSync:
    """Validate, classify and write one batch of one kind. Subclasses declare the kind."""

    model: ClassVar[type[models.Model]]
    record: ClassVar[type[SyncRecord]]
    key: ClassVar[tuple[str, ...]]  # record fields that are also the key columns
    columns: ClassVar[dict[str, str]]  # other record field → model column
    references: ClassVar[dict[str, Reference]] = {}

    def __init__(self) -> None:
        self.result = SyncResult()
        self.existing: dict[Key, dict[str, Any]] = {}
        self.targets: dict[str, dict[Any, int]] = {}
        self.state: dict[Key, dict[str, Any]] = {}
        self.ids: dict[Key, int] = {}
        self.written: list[Key] = []
        opts = self.model._meta
        self.synced = tuple(self.columns.values())
        self.cleared = {
            c: _cleared_value(opts.get_field(_field_name(opts, c))) for c in self.synced
        }
        self.insert_defaults = {
            f.column: _cleared_value(f)
            for f in opts.concrete_fields
            if not f.primary_key
            and not f.generated
            and f.column not in ("tenant_id", "created_at", "updated_at")
        }

    # -- hooks a kind may override --

    def key_of(self, record: SyncRecord) -> Key:
        return tuple(getattr(record, name) for name in self.key)

    def key_label(self, key: Key) -> str:
        return ":".join(v.isoformat() if isinstance(v, datetime.date) else str(v) for v in key)

    def raw_key(self, raw: dict) -> str | None:
        values = [raw.get(name) for name in self.key]
        if any(v is None or isinstance(v, dict | list) for v in values):
            return None
        return ":".join(str(v) for v in values)

    def load_existing(self, keys: set[Key]) -> list[dict[str, Any]]:
        (name,) = self.key
        return list(
            self.model.objects.filter(**{f"{name}__in": [k[0] for k in keys]}).values(
                "id", name, *self.synced
            )
        )

    def check(self, key: Key, row: dict[str, Any]) -> dict[str, list[str]]:
        """Rules across fields of the merged row (after omitted fields kept theirs)."""
        return {}

    def accepted(self, key: Key, row: dict[str, Any]) -> None:
        """A record was accepted into the batch's state."""

    def after_write(self) -> None:
        """Follow-ups of the written rows (``self.written``, ids in ``self.ids``)."""

    # -- the steps --

    def apply(self, records: list[Any]) -> SyncResult:
        valid = self._validate(records)
        self._load(valid)
        for index, record in valid:
            self._merge(index, record)
        self._write()
        return self.result

    def _validate(self, records: list[Any]) -> list[tuple[int, SyncRecord]]:
        valid = []
        for index, raw in enumerate(records):
            if not isinstance(raw, dict):
                self.result.reject(
                    index, None, {NON_FIELD: [str(_("A record must be a JSON object."))]}
                )
                continue
            try:
                valid.append((index, self.record.model_validate(raw)))
            except ValidationError as exc:
                self.result.reject(index, self.raw_key(raw), pydantic_messages(exc))
        return valid

    def _load(self, valid: list[tuple[int, SyncRecord]]) -> None:
        keys = {self.key_of(record) for _, record in valid}
        if keys:
            for row in self.load_existing(keys):
                key = tuple(row[name] for name in self.key)
                if key in keys:
                    self.existing[key] = row
                    self.ids[key] = row["id"]
        for name, reference in self.references.items():
            values = {getattr(r, name) for _, r in valid if getattr(r, name) is not None}
            self.targets[name] = (
                dict(
                    reference.model.objects.filter(
                        **{f"{reference.lookup}__in": values}, **dict(reference.filters)
                    ).values_list(reference.lookup, "pk")
                )
                if values
                else {}
            )

    def _resolve(self, name: str, value: Any) -> int | BatchRef | None:
        target = self.targets[name].get(value)
        if target is None and self.references[name].same_kind and (value,) in self.state:
            # An earlier record of this batch: its id exists once the batch is written.
            target = self.state[(value,)].get("id") or BatchRef((value,))
        return target

    def _merge(self, index: int, record: SyncRecord) -> None:
        key = self.key_of(record)
        errors: dict[str, list[str]] = {}
        provided: dict[str, Any] = {}
        for name in record.model_fields_set:
            column = self.columns.get(name)
            if column is None:
                continue
            value = getattr(record, name)
            if value is None:
                value = self.cleared[column]
            elif name in self.references:
                target = self._resolve(name, value)
                if target is None:
                    errors[name] = [str(self.references[name].unknown % {"value": value})]
                    continue
                value = target
            provided[column] = value
        base = self.state.get(key) or self.existing.get(key)
        row = {**(base or self.cleared), **provided, **dict(zip(self.key, key, strict=True))}
        errors.update(self.check(key, row))
        if errors:
            self.result.reject(index, self.key_label(key), errors)
            return
        if base is None:
            self.result.created += 1
        elif any(row[column] != base[column] for column in provided):
            self.result.updated += 1
        else:
            self.result.unchanged += 1
        self.state[key] = row
        self.accepted(key, row)

    def _differs(self, key: Key) -> bool:
        stored = self.existing.get(key)
        row = self.state[key]
        return stored is None or any(row[c] != stored[c] for c in self.synced)

    def _write(self) -> None:
        # Sorted, so concurrent batches lock shared rows in the same order (no deadlock).
        self.written = sorted(key for key in self.state if self._differs(key))
        if not self.written:
            return
        conflict = ("tenant_id", *self.key)
        rows, deferred = [], []
        for key in self.written:
            row = {**self.insert_defaults, **self.state[key]}
            row.pop("id", None)
            if any(isinstance(v, BatchRef) for v in row.values()):
                deferred.append(key)
                row = {c: None if isinstance(v, BatchRef) else v for c, v in row.items()}
            rows.append(row)
        returned = rows_upsert(
            model=self.model,
            rows=rows,
            conflict=conflict,
            update=self.synced,
            returning=("id", *self.key),
        )
        for pk, *key in returned:
            self.ids[tuple(key)] = pk
        if deferred:
            self._write_batch_references(deferred, conflict)
        self.after_write()

    def _write_batch_references(self, deferred: list[Key], conflict: tuple[str, ...]) -> None:
        """Point rows at rows created earlier in the batch, now that those have ids."""
        rows, columns = [], set()
        for key in deferred:
            row = {**self.insert_defaults, **self.state[key]}
            row.pop("id", None)
            for column, value in row.items():
                if isinstance(value, BatchRef):
                    row[column] = self.ids[value.key]
                    columns.add(column)
            rows.append(row)
        rows_upsert(model=self.model, rows=rows, conflict=conflict, update=tuple(sorted(columns)))


def _field_name(opts, column: str) -> str:
    return next(f.name for f in opts.concrete_fields if f.column == column)


def _cleared_value(model_field: models.Field) -> Any:
    """What ``null`` (or an omitted field on create) stores: NULL, the default, or ""."""
    if model_field.null:
        return None
    if model_field.has_default():
        return model_field.get_default()
    return ""


# --- The kinds -----------------------------------------------------------------------


class BranchSync(KindSync):
    model = Branch
    record = BranchRecord
    key = ("code",)
    columns = {"name": "name", "parent_code": "parent_id"}
    references = {
        "parent_code": Reference(Branch, "code", _('Unknown branch code "%(value)s".'), (), True)
    }

    def load_existing(self, keys: set[Key]) -> list[dict[str, Any]]:
        # The whole (small) branch tree: a new parent must not close a cycle in it.
        rows = list(Branch.objects.values("id", "code", "name", "parent_id"))
        code_of = {row["id"]: row["code"] for row in rows}
        self.parent_of = {row["code"]: code_of.get(row["parent_id"]) for row in rows}
        self.code_of = code_of
        return rows

    def _parent_code(self, parent: int | BatchRef | None) -> str | None:
        if isinstance(parent, BatchRef):
            return parent.key[0]
        return None if parent is None else self.code_of.get(parent)

    def check(self, key: Key, row: dict[str, Any]) -> dict[str, list[str]]:
        (code,) = key
        seen, current = set(), self._parent_code(row["parent_id"])
        while current is not None and current not in seen:
            if current == code:
                return {"parent_code": [str(_("A branch cannot be below itself."))]}
            seen.add(current)
            current = self.parent_of.get(current)
        return {}

    def accepted(self, key: Key, row: dict[str, Any]) -> None:
        self.parent_of[key[0]] = self._parent_code(row["parent_id"])


class StaffSync(KindSync):
    """Staff records never create or change logins: a login is linked by head office."""

    model = StaffProfile
    record = StaffRecord
    key = ("code",)
    columns = {"name": "name", "branch_code": "branch_id", "role": "role", "email": "email"}
    references = {"branch_code": Reference(Branch, "code", _('Unknown branch code "%(value)s".'))}


class ProductSync(KindSync):
    model = Product
    record = ProductRecord
    key = ("code",)
    columns = {
        "name": "name",
        "category": "category",
        "risk_level": "risk_level",
        "currency": "currency",
    }


class FxRateSync(KindSync):
    model = FxRate
    record = FxRateRecord
    key = ("currency", "date")
    columns = {"rate_to_cny": "rate_to_cny"}

    def load_existing(self, keys: set[Key]) -> list[dict[str, Any]]:
        return list(
            FxRate.objects.filter(
                currency__in={k[0] for k in keys}, date__in={k[1] for k in keys}
            ).values("id", "currency", "date", "rate_to_cny")
        )

    def after_write(self) -> None:
        client_aum_refresh(currencies=sorted({currency for currency, _day in self.written}))


class ClientSync(KindSync):
    model = Client
    record = ClientRecord
    key = ("external_id",)
    columns = {
        "name": "name",
        "branch_code": "branch_id",
        "rm_code": "owner_rm_id",
        "gender": "gender",
        "birth_date": "birth_date",
        "id_number": "id_number",
        "mobile": "mobile",
        "email": "email",
        "occupation": "occupation",
        "is_entrepreneur": "is_entrepreneur",
        "company_external_id": "company_id",
        "risk_level": "risk_level",
        "risk_assessed_on": "risk_assessed_on",
    }
    references = {
        "branch_code": Reference(Branch, "code", _('Unknown branch code "%(value)s".')),
        "rm_code": Reference(
            StaffProfile,
            "code",
            _('No relationship manager with staff code "%(value)s".'),
            (("role", Role.RM),),
        ),
        "company_external_id": Reference(
            Client, "external_id", _('Unknown client "%(value)s".'), (), True
        ),
    }

    def check(self, key: Key, row: dict[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if row["company_id"] is not None and row["company_id"] in (
            row.get("id"),
            BatchRef(key),
        ):
            errors["company_external_id"] = [str(_("A client cannot be their own company."))]
        if row["risk_level"] and row["risk_assessed_on"] is None:
            errors["risk_assessed_on"] = [str(_("Required when the client has a risk level."))]
        if row["risk_assessed_on"] is not None and not row["risk_level"]:
            errors["risk_level"] = [str(_("Required when the client has a risk assessment date."))]
        if row["risk_assessed_on"] and row["risk_assessed_on"] > timezone.localdate():
            errors["risk_assessed_on"] = [str(_("May not be in the future."))]
        return errors

    def after_write(self) -> None:
        """Keep the risk history: one assessment row per client and date, set-based."""
        rows = []
        for key in self.written:
            row, stored = self.state[key], self.existing.get(key)
            level, on = row["risk_level"], row["risk_assessed_on"]
            if not level or on is None:
                continue
            if stored and (stored["risk_level"], stored["risk_assessed_on"]) == (level, on):
                continue
            rows.append({"client_id": self.ids[key], "level": level, "assessed_on": on})
        rows_upsert(
            model=RiskAssessment,
            rows=rows,
            conflict=("tenant_id", "client_id", "assessed_on"),
            update=("level",),
            only_if_changed=True,
        )


class HoldingSync(KindSync):
    model = Holding
    record = HoldingRecord
    key = ("external_id",)
    columns = {
        "client_external_id": "client_id",
        "product_code": "product_id",
        "balance": "balance",
        "currency": "currency",
        "opened_on": "opened_on",
        "matures_on": "matures_on",
        "status": "status",
    }
    references = {
        "client_external_id": Reference(Client, "external_id", _('Unknown client "%(value)s".')),
        "product_code": Reference(Product, "code", _('Unknown product code "%(value)s".')),
    }

    def check(self, key: Key, row: dict[str, Any]) -> dict[str, list[str]]:
        if row["opened_on"] and row["matures_on"] and row["matures_on"] < row["opened_on"]:
            return {"matures_on": [str(_("May not be before the opening date."))]}
        return {}

    def after_write(self) -> None:
        # Only the clients whose holdings changed (and those a holding moved away from).
        clients = {self.state[key]["client_id"] for key in self.written}
        clients |= {self.existing[k]["client_id"] for k in self.written if k in self.existing}
        client_aum_refresh(client_ids=sorted(clients))


KINDS: dict[str, type[KindSync]] = {
    "branches": BranchSync,
    "staff": StaffSync,
    "products": ProductSync,
    "fx-rates": FxRateSync,
    "clients": ClientSync,
    "holdings": HoldingSync,
}


# --- Entry points --------------------------------------------------------------------


def sync_batch_parse(body: bytes) -> list[Any]:
    """The ``records`` of a request body, or ``BatchRefused`` for a batch refused whole."""
    try:
        # Decimal, not float: an amount sent as a JSON number keeps its exact digits.
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise BatchRefused(str(_("The request body is not valid JSON."))) from None
    if not isinstance(data, dict) or "records" not in data:
        raise BatchRefused(str(_('The body must be a JSON object with a "records" list.')))
    records = data["records"]
    if not isinstance(records, list):
        raise BatchRefused(str(_('"records" must be a list.')))
    if len(records) > MAX_RECORDS:
        raise BatchRefused(
            str(
                _("A batch has at most %(max)s records; this one has %(count)s.")
                % {"max": f"{MAX_RECORDS:,}", "count": f"{len(records):,}"}
            )
        )
    return records


def sync_batch_apply(*, kind: str, records: list[Any]) -> SyncResult:
    """Upsert ``records`` of ``kind`` into the current tenant (see the module docstring)."""
    return KINDS[kind]().apply(records)
