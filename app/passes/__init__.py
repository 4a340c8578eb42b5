"""Passes: designing, building, signing, importing and issuing them."""
