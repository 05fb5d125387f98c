from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("books", "0001_initial")]  # noqa: RUF012 (Django's own shape)
    operations = [  # noqa: RUF012
        migrations.AddField(
            model_name="book", name="priority", field=models.IntegerField(db_default=0)
        ),
        migrations.DeleteModel(name="ImportBatch"),
    ]
