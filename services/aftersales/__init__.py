"""After-sales: keeps each delivered order's return window.

Returns, RMAs, inspections, refunds and exchanges arrive in the next issue; for now the worker
only records until when an order may be returned, and announces nothing.
"""
