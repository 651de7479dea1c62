"""The orderflow application: the CLI, the embedded cluster and the demo.

This package composes the workers in ``services`` with the runtime in ``shared``; the workers
themselves never import it.
"""
