from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("books", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="book", name="priority", field=models.IntegerField(db_default=0)
        ),
        migrations.DeleteModel(name="ImportBatch"),
    ]
