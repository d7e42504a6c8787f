"""Pages of the sales pipeline, mounted at /pipeline/ (see ``sales_pipeline.views``)."""

app_name = "sales_pipeline"

urlpatterns: list = []
