from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    added_at = models.DateTimeField(auto_now_add=True)


class ImportBatch(models.Model):
    """Batches of the old spreadsheet import (no longer used by any view)."""

    filename = models.CharField(max_length=200)
