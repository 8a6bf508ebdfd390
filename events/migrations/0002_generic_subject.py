from django.db import migrations, models

# The kinds of subject the event types of the time were about, by the type's prefix.
SUBJECT_KINDS = {"order": "order", "payment": "order", "inventory": "pet", "webhook": "endpoint"}


def subjects_from_ids(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    for prefix, kind in SUBJECT_KINDS.items():
        for event in Event.objects.filter(type__startswith=f"{prefix}.").only("id", "subject_id").iterator():
            Event.objects.filter(id=event.id).update(subject=f"{kind}/{event.subject_id}")


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="type",
            field=models.CharField(
                db_index=True, help_text="One of the registered types (`events.registry`).", max_length=64
            ),
        ),
        migrations.AddField(
            model_name="event",
            name="subject",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(subjects_from_ids, migrations.RunPython.noop),
        migrations.RemoveField(model_name="event", name="subject_id"),
        migrations.AlterField(
            model_name="event",
            name="subject",
            field=models.CharField(
                db_index=True, help_text="What the event is about: `order/<id>`, `pet/<id>`…", max_length=100
            ),
        ),
    ]
