"""The small runtime every orderflow worker stands on."""
