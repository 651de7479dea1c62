"""An operator's tools: orders as a person sees them, actions on a worker's data, the audit,
the parking lot."""
