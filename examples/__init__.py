"""Example apps built with onto-functions."""
