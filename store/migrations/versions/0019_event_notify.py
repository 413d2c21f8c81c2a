"""notify listening hubs when events are reported or change (PostgreSQL)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

Statement-level triggers on ``events`` send ``NOTIFY gridhub_events`` with the ids the statement
inserted or updated, comma-separated (delivered when the transaction commits, never for one
rolled back); a statement that changed more than :data:`MOST_IDS` rows sends ``*`` instead, and
the listener then reads what changed by ``updated_at`` (a notification's payload is bounded).
``events.stream`` listens. SQLite has no notifications: each hub process polls ``updated_at``
there, so nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Most ids one notification names (8 digits and a comma each: well under the 8,000 bytes a
#: payload may hold).
MOST_IDS = 500


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION gridhub_events_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            how_many integer;
            ids text;
        BEGIN
            SELECT count(*) INTO how_many FROM changed;
            IF how_many = 0 THEN
                RETURN NULL;
            END IF;
            IF how_many > {MOST_IDS} THEN
                PERFORM pg_notify('gridhub_events', '*');
            ELSE
                SELECT string_agg(id::text, ',') INTO ids FROM changed;
                PERFORM pg_notify('gridhub_events', ids);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER events_{event.lower()}_notify AFTER {event} ON events"
            " REFERENCING NEW TABLE AS changed"
            " FOR EACH STATEMENT EXECUTE FUNCTION gridhub_events_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER events_{event}_notify ON events")
    op.execute("DROP FUNCTION gridhub_events_changed()")
