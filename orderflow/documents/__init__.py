"""The warehouse's printed documents: pick lists, packing slips, shipping labels and invoices."""
