from __future__ import annotations

from django.contrib import admin

from .models import Author, Book


class BookInline(admin.TabularInline):
    model = Book
    extra = 0


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ("name", "born")
    search_fields = ("name",)
    inlines = (BookInline,)


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ("title", "author", "published", "pages")
    list_filter = ("published",)
    search_fields = ("title", "author__name")
    autocomplete_fields = ("author",)
    date_hierarchy = "published"
