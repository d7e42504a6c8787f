"""The sales pipeline's API routes under /api/v1/ (see ``sales_pipeline.api``)."""

urlpatterns: list = []
