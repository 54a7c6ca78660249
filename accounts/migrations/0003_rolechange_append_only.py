from django.db import migrations

# Deleting a user sets the record's keys to NULL (Django's SET_NULL is an UPDATE): that, and only that, passes.
CREATE = """
CREATE OR REPLACE FUNCTION accounts_rolechange_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       OR (NEW.username, NEW.actor_username, NEW.old_role, NEW.new_role, NEW.created_at)
          IS DISTINCT FROM (OLD.username, OLD.actor_username, OLD.old_role, OLD.new_role, OLD.created_at)
       OR (NEW.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM OLD.user_id)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id) THEN
        RAISE EXCEPTION 'accounts_rolechange is append-only (% refused)', TG_OP;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_rolechange_no_update BEFORE UPDATE OR DELETE ON accounts_rolechange
    FOR EACH ROW EXECUTE FUNCTION accounts_rolechange_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS accounts_rolechange_no_update ON accounts_rolechange;
DROP FUNCTION IF EXISTS accounts_rolechange_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_role_change")]
    operations = [migrations.RunPython(forwards, backwards)]
