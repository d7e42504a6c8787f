"""Pages of saved segments: the list, the builder with its live preview (htmx), the
segment page — its matching clients as a target list — and its CSV and XLSX exports.

Segments come from ``segments.saved_segment_list`` (own + shared in reach): any other
is a 404, another tenant's included. Clients always come from the *viewer's* scope.
"""

from __future__ import annotations

import re
import tempfile

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import InvalidPage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView, ListView, View
from django.views.generic.detail import SingleObjectMixin

from segmentation import segments
from segmentation.models import SavedSegment
from segmentation.segment_forms import SegmentCriteriaForm, SegmentForm, add_criteria_errors
from vipcrm.pagination import WindowPaginator, page_window
from vipcrm.views import ScopedViewMixin, StaffRequiredMixin

CLIENTS_PER_PAGE = 50
SPOOL_BYTES = 8 * 1024 * 1024  # exports larger than this spill to a temporary file


class SegmentObjectMixin(ScopedViewMixin, SingleObjectMixin):
    """A page of one segment the actor may use (else 404)."""

    model = SavedSegment  # for introspection (the cross-tenant test); rows: the selector
    selector = segments.saved_segment_list
    context_object_name = "segment"


class SegmentOwnerMixin(SegmentObjectMixin):
    """A page that changes the segment: its owner only (a colleague gets 403)."""

    def get_object(self, queryset=None):
        segment = super().get_object(queryset)
        segments.saved_segment_change_check(actor=self.actor, segment=segment)
        return segment


# --- The list -----------------------------------------------------------------------


class SegmentListView(ScopedViewMixin, ListView):
    """The actor's segments and those shared with them. Counts arrive lazily: each row
    asks for its own (``SegmentCountView``) when it scrolls into view, so the list costs
    the same whatever the segments match."""

    selector = segments.saved_segment_list
    template_name = "segmentation/segment_list.html"
    context_object_name = "segment_list"
    paginate_by = 50


class SegmentCountView(SegmentObjectMixin, View):
    """How many of the viewer's clients a segment matches (an htmx fragment)."""

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not request.htmx:
            return HttpResponseRedirect(self.object_url())
        clients = segments.saved_segment_clients(actor=self.actor, segment=self.object)
        return render(
            request, "segmentation/segment_count.html", {"count": segments.segment_count(clients)}
        )

    def object_url(self) -> str:
        return reverse("segmentation:segment-detail", args=[self.object.pk])


# --- The builder ----------------------------------------------------------------------


def _preview_context(*, actor, form: SegmentCriteriaForm, criteria: dict | None) -> dict:
    """The preview: the match count and the first clients, or what to correct first."""
    if criteria is None:
        labels = {name: field.label for name, field in form.fields.items()}
        return {
            "preview_errors": [
                (labels.get(name, ""), [str(message) for message in errors])
                for name, errors in form.errors.items()
            ]
        }
    clients = segments.segment_clients(actor=actor, criteria=criteria)
    rows = list(clients[: segments.PREVIEW_SIZE])
    for client in rows:
        segments.segment_client_labels(client)
    return {
        "preview_count": segments.segment_count(clients),
        "preview_clients": rows,
        "preview_size": segments.PREVIEW_SIZE,
    }


def _form_criteria(form: SegmentCriteriaForm) -> dict | None:
    """The criteria of a bound form (None when invalid); an unbound form has none."""
    if not form.is_bound:
        return {}
    return form.criteria if form.is_valid() else None


class SegmentPreviewView(StaffRequiredMixin, View):
    """The builder's live preview (htmx GET of the criteria fields), nothing saved."""

    def get(self, request, *args, **kwargs):
        if not request.htmx:
            return HttpResponseRedirect(reverse("segmentation:segment-create"))
        form = SegmentCriteriaForm(request.GET or None, actor=self.actor)
        context = _preview_context(actor=self.actor, form=form, criteria=_form_criteria(form))
        return render(request, "segmentation/segment_preview.html", context)


class SegmentBuilderMixin:
    """Create and edit share one page: criteria on the left, name and preview aside.

    POST with ``preview`` (the no-JS preview button) shows the preview without saving.
    """

    template_name = "segmentation/segment_form.html"
    success_message = _("Segment saved.")
    segment: SavedSegment | None = None

    def render_builder(self, criteria_form, segment_form, *, criteria) -> object:
        context = {
            "criteria_form": criteria_form,
            "segment_form": segment_form,
            "segment": self.segment,
            **_preview_context(actor=self.actor, form=criteria_form, criteria=criteria),
        }
        return render(self.request, self.template_name, context)

    def save(self, **fields) -> SavedSegment:
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        criteria_form = SegmentCriteriaForm(request.POST, actor=self.actor)
        if "preview" in request.POST:
            segment_form = SegmentForm(
                initial={
                    "name": request.POST.get("name", ""),
                    "description": request.POST.get("description", ""),
                    "is_shared": bool(request.POST.get("is_shared")),
                }
            )
            return self.render_builder(
                criteria_form, segment_form, criteria=_form_criteria(criteria_form)
            )
        segment_form = SegmentForm(request.POST)
        criteria_ok = criteria_form.is_valid()
        if segment_form.is_valid() and criteria_ok:
            try:
                segment = self.save(criteria=criteria_form.criteria, **segment_form.cleaned_data)
            except ValidationError as error:
                for key, errors in error.error_dict.items():
                    if key in segment_form.fields:
                        segment_form.add_error(key, errors)
                    else:
                        add_criteria_errors(criteria_form, ValidationError({key: errors}))
            else:
                messages.success(request, self.success_message)
                return HttpResponseRedirect(
                    reverse("segmentation:segment-detail", args=[segment.pk])
                )
        criteria = criteria_form.criteria if criteria_form.is_valid() else None
        return self.render_builder(criteria_form, segment_form, criteria=criteria)


class SegmentCreateView(SegmentBuilderMixin, StaffRequiredMixin, View):
    def get(self, request, *args, **kwargs):
        criteria_form = SegmentCriteriaForm(actor=self.actor)
        return self.render_builder(criteria_form, SegmentForm(), criteria={})

    def save(self, **fields) -> SavedSegment:
        return segments.saved_segment_create(actor=self.actor, request=self.request, **fields)


class SegmentUpdateView(SegmentBuilderMixin, SegmentOwnerMixin, View):
    def get(self, request, *args, **kwargs):
        self.segment = self.object = self.get_object()
        criteria = self.segment.criteria
        criteria_form = SegmentCriteriaForm(
            actor=self.actor, initial=SegmentCriteriaForm.initial_for(criteria)
        )
        segment_form = SegmentForm(
            initial={
                "name": self.segment.name,
                "description": self.segment.description,
                "is_shared": self.segment.is_shared,
            }
        )
        return self.render_builder(criteria_form, segment_form, criteria=criteria)

    def post(self, request, *args, **kwargs):
        self.segment = self.object = self.get_object()
        return super().post(request, *args, **kwargs)

    def save(self, **fields) -> SavedSegment:
        return segments.saved_segment_update(
            actor=self.actor, segment=self.segment, request=self.request, **fields
        )


# --- One segment: its clients, deletion, exports ------------------------------------


class SegmentDetailView(SegmentObjectMixin, DetailView):
    """The segment as a target list: the viewer's matching clients, page by page (no
    COUNT over the whole book: a bounded count, then one query per page)."""

    template_name = "segmentation/segment_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        segment = self.object
        clients = segments.saved_segment_clients(actor=self.actor, segment=segment)
        paginator = WindowPaginator(clients, CLIENTS_PER_PAGE)
        try:
            page = paginator.page(self.request.GET.get("page") or 1)
        except InvalidPage as error:
            raise Http404 from error
        for client in page.object_list:
            segments.segment_client_labels(client)
        count = segments.segment_count(clients)
        page_count = (
            min(-(-count.value // CLIENTS_PER_PAGE), WindowPaginator.max_pages)
            if count.exact
            else None
        )
        context.update(
            clients=page.object_list,
            page_obj=page,
            page_numbers=page_window(page.number, page.has_next(), page_count),
            query_string="",
            count=count,
            criteria=segments.criteria_describe(segment.criteria),
            is_owner=segment.owner_id == self.actor.staff.pk,
            export_cap=segments.EXPORT_ROW_CAP,
        )
        return context


class SegmentDeleteView(SegmentOwnerMixin, View):
    template_name = "segmentation/segment_confirm_delete.html"

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        return render(request, self.template_name, {"segment": self.object})

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        segments.saved_segment_delete(actor=self.actor, segment=self.object, request=request)
        messages.success(request, _("Segment deleted."))
        return HttpResponseRedirect(reverse("segmentation:segment-list"))


UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


class SegmentExportView(SegmentObjectMixin, View):
    """The segment's clients in the viewer's scope as a file, masked per role, audited.

    Rows stream from the database into a spooled temporary file inside the request's
    tenant transaction (memory stays flat), which is then sent. More than
    ``EXPORT_ROW_CAP`` clients are refused with a message on the segment page.
    """

    file_format = "csv"

    def get(self, request, *args, **kwargs):
        segment = self.object = self.get_object()
        # Not a ``with`` block: the response sends the file and closes it.
        file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            segments.saved_segment_export(
                actor=self.actor,
                segment=segment,
                file_format=self.file_format,
                file=file,
                request=request,
            )
        except segments.ExportTooLarge as error:
            file.close()
            messages.error(request, error.message)
            return HttpResponseRedirect(reverse("segmentation:segment-detail", args=[segment.pk]))
        except BaseException:
            file.close()
            raise
        file.seek(0)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        name = UNSAFE_FILENAME.sub("_", segment.name).strip() or "segment"
        return FileResponse(
            file,
            as_attachment=True,
            filename=f"{name}-{stamp}.{self.file_format}",
            content_type=segments.EXPORT_CONTENT_TYPES[self.file_format],
        )
