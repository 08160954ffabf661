"""Integrations: the command line and the synthetic demo workload."""

__all__: list[str] = []
