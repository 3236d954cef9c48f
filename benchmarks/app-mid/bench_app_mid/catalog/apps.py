from __future__ import annotations

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "bench_app_mid.catalog"
    verbose_name = "Catalog"
