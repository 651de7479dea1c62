"""The notifier's announcements."""

from __future__ import annotations

from typing import ClassVar

from .base import OrderMessage


class NotificationSent(OrderMessage):
    """The notifier sent the customer one message about the order (``about`` is the event it
    told of), in their language."""

    type: ClassVar[str] = "notification.sent"

    notification_id: str
    about: str
    language: str
    channel: str = "email"
