"""Folder scan and header probe tests."""
