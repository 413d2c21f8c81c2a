"""notify listening hubs when OAuth clients change (PostgreSQL)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

A deleted client's live tokens are refused at once: the request reads whether the token's
client still exists along with its principal, and a hub that keeps principals between
notifications (``policies.access_watch``) must hear of a client deleted, as it hears of a
principal removed. The function ``gridhub_access_changed`` is 0004's. SQLite has no
notifications: nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TRIGGER oauth_clients_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
        " ON oauth_clients FOR EACH STATEMENT EXECUTE FUNCTION gridhub_access_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER oauth_clients_changed ON oauth_clients")
