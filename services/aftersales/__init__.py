"""After-sales: returns (RMA, receipt, inspection, refund, restock), exchanges and resends of
missing items, each a case of a delivered order within its return window."""
