"""Shipping: picks a carrier and service by rules and rates, books, follows the tracking."""
