from books import views
from django.urls import path

urlpatterns = [
    path("healthz", views.healthz),
    path("books", views.books),
]
