from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from vipcrm import api_views, views
from vipcrm.admin import platform_admin_site

router = SimpleRouter(trailing_slash=True)
router.register("branches", api_views.BranchViewSet, basename="branch")
router.register("staff", api_views.StaffViewSet, basename="staff")

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
    path("", include("customers.api_urls")),
    path("", include("segmentation.api_urls")),
    path("", include("contact_plans.api_urls")),
    path("", include("sales_pipeline.api_urls")),
    path("", include("kpi.api_urls")),
]

urlpatterns = [
    path("", views.MyDayView.as_view(), name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("branches/", views.BranchListView.as_view(), name="branch-list"),
    path("staff/", views.StaffListView.as_view(), name="staff-list"),
    path("staff/<str:code>/", views.StaffDetailView.as_view(), name="staff-detail"),
    path("audit/", views.AuditLogView.as_view(), name="audit-log"),
    path("notifications/", include("vipcrm.notification_urls")),
    path("clients/", include("customers.urls")),
    path("segmentation/", include("segmentation.urls")),
    path("contacts/", include("contact_plans.urls")),
    path("pipeline/", include("sales_pipeline.urls")),
    path("kpi/", include("kpi.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", include((api_v1, "api"))),
    path("admin/", platform_admin_site.urls),
]

handler403 = "vipcrm.views.permission_denied"
handler404 = "vipcrm.views.page_not_found"
handler500 = "vipcrm.views.server_error"
