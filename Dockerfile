# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vipcrm vipcrm
COPY customers customers
COPY segmentation segmentation
COPY contact_plans contact_plans
COPY sales_pipeline sales_pipeline
COPY kpi kpi
RUN pip install .
COPY . .
RUN DJANGO_SETTINGS_MODULE=vipcrm.settings.production DJANGO_SECRET_KEY=build-only \
    DJANGO_ALLOWED_HOSTS=build python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 vipcrm && mkdir -p /app/var && chown -R vipcrm /app/var
USER vipcrm
EXPOSE 8000
CMD ["gunicorn", "vipcrm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
