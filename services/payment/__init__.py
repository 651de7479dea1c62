"""Payment: charges an order once its stock is reserved, through a (simulated) gateway."""
