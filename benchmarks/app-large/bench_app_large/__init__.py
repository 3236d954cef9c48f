"""The benchmark's large-closure fixture application."""
