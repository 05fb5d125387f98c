"""The home page (compressed CSS), the health check (touches the database), the admin's
login (ADMIN_PASSWORD) and the members API (JSON; registering needs the login)."""

import hmac
import json

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from members.models import Member


def home(request: HttpRequest) -> HttpResponse:
    names = Member.objects.order_by("name").values_list("name", flat=True)[:50]
    return render(request, "members/home.html", {"names": names})


def health(request: HttpRequest) -> JsonResponse:
    try:
        count = Member.objects.count()
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "members": count})


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "members/login.html")
    password = request.POST.get("password", "")
    expected = settings.ADMIN_PASSWORD
    if request.POST.get("username") != "admin" or not expected:
        return render(request, "members/login.html", {"failed": True}, status=401)
    if not hmac.compare_digest(password.encode(), expected.encode()):
        return render(request, "members/login.html", {"failed": True}, status=401)
    request.session.cycle_key()
    request.session["admin"] = True
    return redirect("/")


@require_http_methods(["GET", "POST"])
def members(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"members": [m.public() for m in Member.objects.order_by("id")]})
    if not request.session.get("admin"):
        return JsonResponse({"error": "log in first"}, status=403)
    name = str(json.loads(request.body or b"{}").get("name", "")).strip()
    if not 2 <= len(name) <= 63:
        return JsonResponse({"error": "a name is 2-63 characters"}, status=400)
    try:
        with transaction.atomic():
            member = Member.objects.create(name=name)
    except IntegrityError:
        return JsonResponse({"error": f"the name {name!r} is taken"}, status=409)
    return JsonResponse(member.public(), status=201)
