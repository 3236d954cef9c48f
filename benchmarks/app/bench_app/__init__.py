"""The benchmark's fixture application."""
