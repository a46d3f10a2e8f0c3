"""Adapters: one folder per implementation family."""
