"""Issuing many passes at once: the rows, the CSV files they come from, the runs."""
