"""The ``orderflow`` command: its sub-commands and what they share."""
