"""Policies: the TOML format (loader), the built-in profiles, validation, the event catalog.

Nothing is imported here: the started interpreter needs the model and the
catalog, not the TOML loader.
"""
