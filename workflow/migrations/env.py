"""Alembic environment: migrations run on the connection lps hands over."""

from __future__ import annotations

from alembic import context

from workflow.models import with_partial_indexes

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("lps migrations run through `lps init`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=with_partial_indexes(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
