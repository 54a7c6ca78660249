from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION curation_promptlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'curation_promptlog is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER curation_promptlog_no_update BEFORE UPDATE OR DELETE ON curation_promptlog
    FOR EACH ROW EXECUTE FUNCTION curation_promptlog_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS curation_promptlog_no_update ON curation_promptlog;
DROP FUNCTION IF EXISTS curation_promptlog_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no client-side % interpolation of the plpgsql


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
