"""The benchmark's mid-size fixture application: a small Django project."""
