from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=200, unique=True)
    born = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=300)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    published = models.DateField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    added = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-published", "title")
        constraints = (models.UniqueConstraint(fields=["author", "title"], name="unique_title_per_author"),)

    def __str__(self) -> str:
        return self.title
