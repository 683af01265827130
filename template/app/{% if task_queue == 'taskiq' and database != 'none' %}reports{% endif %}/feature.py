"""The reports feature: its route, and its task module for the queue worker."""

from app.api.routes import reports
from app.core.feature import Feature

FEATURE = Feature(name="reports", routers=[reports.router], tasks=["app.reports.tasks"])
