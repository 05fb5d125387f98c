from django.db import models


class Member(models.Model):
    name = models.CharField(max_length=63, unique=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name}
