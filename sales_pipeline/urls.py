"""Pages of the sales pipeline, mounted at /pipeline/ (see ``sales_pipeline.views``)."""

from django.urls import path

from sales_pipeline import client_section
from sales_pipeline.views import boards, opportunities

app_name = "sales_pipeline"

urlpatterns = [
    path("", boards.BoardView.as_view(), name="board"),
    path("honours/", boards.HonoursView.as_view(), name="honours"),
    path("new/", opportunities.OpportunityCreateView.as_view(), name="create"),
    path("<int:pk>/", opportunities.OpportunityDetailView.as_view(), name="opportunity"),
    # The work on an opportunity: POST; a GET answers with its page.
    path("<int:pk>/edit/", opportunities.OpportunityEditView.as_view(), name="edit"),
    path("<int:pk>/move/", opportunities.OpportunityMoveView.as_view(), name="move"),
    path("<int:pk>/plan/", opportunities.PlanContactView.as_view(), name="plan"),
    path("<int:pk>/contact/", opportunities.LogContactView.as_view(), name="contact"),
    path("<int:pk>/proposal/", opportunities.ProposalCreateView.as_view(), name="proposal"),
    path("<int:pk>/win/", opportunities.RecordSaleView.as_view(), name="win"),
    path("<int:pk>/lose/", opportunities.LoseView.as_view(), name="lose"),
    path("<int:pk>/check-in/", opportunities.CheckInLogView.as_view(), name="check-in"),
    path("<int:pk>/cross-sell/", opportunities.CrossSellView.as_view(), name="cross-sell"),
    path("<int:pk>/referral/", opportunities.ReferralView.as_view(), name="referral"),
    path("<int:pk>/celebrate/", opportunities.CelebrateView.as_view(), name="celebrate"),
    # The client 360's section alone (htmx) or on a page of its own.
    path(
        "clients/<str:external_id>/",
        client_section.OpportunitiesSectionView.as_view(),
        name="client-opportunities",
    ),
]
