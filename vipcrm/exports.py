"""CSV exports of list pages: one file format, one audit entry, one refusal of bad filters."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.utils.translation import gettext

from vipcrm.audit import audit_record


def invalid_filters_response(form) -> HttpResponseBadRequest:
    """A plain-text 400 naming each filter of ``form`` that is not valid."""
    return HttpResponseBadRequest(
        gettext("The export filters are not valid: %(errors)s")
        % {"errors": "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())},
        content_type="text/plain; charset=utf-8",
    )


def csv_export_response(
    *, request, header: list, rows: list[list], name: str, what: str, truncated: bool
) -> HttpResponse:
    """A CSV attachment ``{name}-{stamp}.csv`` (UTF-8 with BOM, so Excel reads the
    Chinese), audited as an ``export`` of ``what`` with the request's filters."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    audit_record(
        action="export",
        request=request,
        detail={
            "what": what,
            "rows": len(rows),
            "truncated": truncated,
            "filters": request.GET.dict(),
        },
    )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response
