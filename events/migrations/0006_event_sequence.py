from django.db import migrations, models

# Events recorded before sequences existed are numbered per subject in the order they were
# written (their ids are time-ordered), and each subject's counter starts after its last one.
NUMBER_EXISTING = """
UPDATE events_event SET sequence = numbered.sequence
FROM (SELECT id, row_number() OVER (PARTITION BY subject ORDER BY id) AS sequence FROM events_event) AS numbered
WHERE events_event.id = numbered.id
"""
COUNT_EXISTING = "INSERT INTO events_subjectsequence (subject, last) SELECT subject, max(sequence) FROM events_event GROUP BY subject"


class Migration(migrations.Migration):
    dependencies = [("events", "0005_event_commit_position")]

    operations = [
        migrations.CreateModel(
            name="SubjectSequence",
            fields=[
                ("subject", models.CharField(max_length=100, primary_key=True, serialize=False)),
                ("last", models.PositiveIntegerField()),
            ],
        ),
        migrations.AddField(
            model_name="event",
            name="sequence",
            field=models.PositiveIntegerField(
                default=0, help_text="The subject's events counted from 1, with no gaps (`SubjectSequence`)."
            ),
            preserve_default=False,
        ),
        migrations.RunSQL(NUMBER_EXISTING, migrations.RunSQL.noop),
        migrations.RunSQL(COUNT_EXISTING, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="event",
            name="subject",
            field=models.CharField(help_text="What the event is about: `order/<id>`, `pet/<id>`…", max_length=100),
        ),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(fields=("subject", "sequence"), name="one_event_per_subject_sequence"),
        ),
    ]
