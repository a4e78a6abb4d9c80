"""Every module's tables, collected for Alembic (the one place besides the roots that sees them all)."""

from services.auth import tables as auth_tables
from services.events import tables as events_tables
from services.integrations import tables as integrations_tables
from services.kernel.schema import metadata
from services.profile import tables as profile_tables
from services.recommender import tables as recommender_tables

TABLE_MODULES = (auth_tables, events_tables, integrations_tables, profile_tables, recommender_tables)
target_metadata = metadata
