"""The notification service's process: ``uvicorn --factory services.notification.main:create_app``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.infra.app import create_service_app
from services.infra.egress import EgressPolicy
from services.infra.projection import ProjectionRunner
from services.infra.runtime import ServiceRuntime
from services.notification.delivery import DeliveryWorker, NotificationSettings
from services.notification.readmodel import DeliveryProjection, delivery_readings, metadata
from services.notification.replay import ReplayWorker
from services.notification.routes import router


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    config = settings or NotificationSettings(service_name="notification")
    runtime: ServiceRuntime[Any] = ServiceRuntime(
        config,
        metadata,
        application=None,  # no event store in this version: subscriptions are plain rows
        handlers=lambda rt: [ProjectionRunner(rt.settings, DeliveryProjection())],
        workers=lambda _rt: [DeliveryWorker(config), ReplayWorker(config)],
        gauges=lambda rt: delivery_readings(rt.db),
    )
    app = create_service_app(
        "caseledger notification service",
        "1.0.0",
        "Webhook subscriptions to case events (事件订阅) and signed, retried delivery of each "
        "matching CloudEvent (Standard Webhooks); the record of every delivery.",
        runtime,
        router,
    )
    # Where callback URLs may point: checked at subscription, and again at every delivery.
    app.state.egress = EgressPolicy.from_settings(config)
    return app
