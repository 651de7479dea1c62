"""Intake: validates what the channels submit, owns the order and its status to the end."""
