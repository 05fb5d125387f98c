from django.urls import path
from members import views

urlpatterns = [
    path("", views.home),
    path("health/", views.health),
    path("login/", views.login),
    path("members/", views.members),
]
