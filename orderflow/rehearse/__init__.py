"""``orderflow rehearse``: a capacity check of the saga, on a namespace of its own."""
