from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    added_at = models.DateTimeField(auto_now_add=True)
    priority = models.IntegerField(db_default=0)
