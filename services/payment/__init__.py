"""Payment: charges a card or e-wallet once its stock is reserved, waits for bank transfers and
escrow with reminders and a deadline, defers cash on delivery, and refunds or voids when the
order is cancelled or returned, through a (simulated) gateway."""
