"""The workers composed: the registry, one process or one thread each, their databases and the
sales channel's way in."""
