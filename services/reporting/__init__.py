"""Reporting: a read model of every order, kept from the business events, for managers' reports."""
