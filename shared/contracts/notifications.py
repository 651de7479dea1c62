"""The notifier's announcements."""

from __future__ import annotations

from typing import ClassVar

from .base import OrderMessage


class NotificationSent(OrderMessage):
    type: ClassVar[str] = "notification.sent"

    notification_id: str
    about: str
    language: str
    channel: str = "email"
