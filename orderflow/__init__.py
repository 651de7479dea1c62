"""The orderflow application: the cluster, the operator's tools, the exported contract, the CLI
and the demo.

This package composes the workers in ``services`` with the runtime in ``shared``; the workers
themselves never import it.
"""
