"""Alembic environment: runs on the connection handed over by ``catalogue.migrate``."""

from __future__ import annotations

from alembic import context

from preservation.catalogue.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line: build an engine from the ini URL
    from preservation.catalogue.models import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
