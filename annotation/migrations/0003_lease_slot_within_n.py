"""The database itself refuses a lease slot beyond the queue's N (annotators per item).

Unique (item, slot) caps an item at as many slot-holding leases as there are slot numbers; this trigger
ties the highest slot number to the queue's N, so no code path can lease an item more than N times.
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION annotation_lease_slot_within_n() RETURNS trigger AS $$
DECLARE n integer;
BEGIN
    IF NEW.slot IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT q.annotators_per_item INTO n
      FROM annotation_queueitem i JOIN annotation_reviewqueue q ON q.id = i.queue_id
     WHERE i.id = NEW.item_id;
    IF NEW.slot > n THEN
        RAISE EXCEPTION 'lease slot % exceeds the % annotators per item of this queue', NEW.slot, n
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER annotation_lease_slot_within_n BEFORE INSERT OR UPDATE OF slot, item_id ON annotation_lease
    FOR EACH ROW EXECUTE FUNCTION annotation_lease_slot_within_n();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS annotation_lease_slot_within_n ON annotation_lease;
DROP FUNCTION IF EXISTS annotation_lease_slot_within_n();
"""

SQLITE_CHECK = """
WHEN NEW.slot IS NOT NULL AND NEW.slot > (
    SELECT q.annotators_per_item FROM annotation_queueitem i
      JOIN annotation_reviewqueue q ON q.id = i.queue_id WHERE i.id = NEW.item_id)
BEGIN
    SELECT RAISE(ABORT, 'lease slot exceeds the annotators per item of this queue');
END;
"""
SQLITE_CREATE = [
    "CREATE TRIGGER annotation_lease_slot_within_n_ins BEFORE INSERT ON annotation_lease FOR EACH ROW " + SQLITE_CHECK,
    "CREATE TRIGGER annotation_lease_slot_within_n_upd BEFORE UPDATE OF slot, item_id ON annotation_lease FOR EACH ROW "
    + SQLITE_CHECK,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS annotation_lease_slot_within_n_ins",
    "DROP TRIGGER IF EXISTS annotation_lease_slot_within_n_upd",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_CREATE:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_queue_items_leases")]
    operations = [migrations.RunPython(forwards, backwards)]
