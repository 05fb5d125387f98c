"""The health check touches the database; ``/books`` lists and adds books."""

import json

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from books.models import Book

FIELDS = ("id", "title", "author")


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        count = Book.objects.count()
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "books": count})


@csrf_exempt
def books(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data = json.loads(request.body)
        book = Book.objects.create(**{key: data[key] for key in FIELDS[1:] if key in data})
        book.refresh_from_db()
        return JsonResponse({key: getattr(book, key) for key in FIELDS}, status=201)
    return JsonResponse({"books": list(Book.objects.values(*FIELDS).order_by("id"))})
