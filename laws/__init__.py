"""laws package."""
