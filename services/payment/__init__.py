"""Payment: charges a card or e-wallet once its stock is reserved, waits for bank transfers and
escrow with reminders and a deadline, defers cash on delivery, refunds or voids when the order is
cancelled or returned, and refunds after-sales cases, through a (simulated) gateway. Replacements
are never charged."""
