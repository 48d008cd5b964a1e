"""Concrete account stores; only the composition root imports them."""
