"""Saleshandy: twin contract, parsing and source tests."""
