"""Audit screen: ranked likely label errors, explained and resolved."""
