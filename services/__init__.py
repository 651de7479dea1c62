"""orderflow's workers. Each imports only ``shared`` and libraries, never another worker."""
