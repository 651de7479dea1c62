"""Warehouse: picks, verifies, packs, weighs and labels an order once it is paid for."""
