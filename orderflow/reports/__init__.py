"""Managers' reports from reporting's read model (``orderflow report``)."""
