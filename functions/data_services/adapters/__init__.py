"""Adapters of the data_services context: signing delivery links."""
