"""jobs: procrastinate's schema, the durable job queue on Postgres (ADR 0032)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op
from sqlalchemy.util import await_only

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# procrastinate 3.10.0's `sql/schema.sql`, kept beside this file: the schema this revision installs
# stays what it is when the library is upgraded (a later revision then applies its migrations).
SCHEMA = Path(__file__).with_name("0015_procrastinate_3_10_0.sql")


def _run_script(sql: str) -> None:
    # Several statements with dollar-quoted bodies: asyncpg's simple-query execute takes them whole,
    # where SQLAlchemy's prepared statements take one at a time.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(sql))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # the embedded default runs jobs in the api process (ADR 0032)
    _run_script(SCHEMA.read_text())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _run_script(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
            procrastinate_workers CASCADE;
        DO $$
        DECLARE f regprocedure;
        BEGIN
            FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname LIKE 'procrastinate%' LOOP
                EXECUTE 'DROP FUNCTION ' || f || ' CASCADE';
            END LOOP;
        END $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_status,
            procrastinate_job_event_type CASCADE;
        """
    )
