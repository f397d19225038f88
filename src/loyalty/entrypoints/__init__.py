"""Adapters that face people and machines: the command line (and later HTTP and web)."""
