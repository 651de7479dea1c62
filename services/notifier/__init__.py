"""Notifier: tells the customer about each customer-visible event, once, in their language."""
