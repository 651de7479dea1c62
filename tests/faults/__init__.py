"""Fault tests: the workers on the real RabbitMQ and PostgreSQL, damaged on purpose (kills,
outages, duplicates, poison, broken links through the TCP fault proxy in proxy.py)."""
