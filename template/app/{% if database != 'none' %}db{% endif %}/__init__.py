"""The database: `database.py` (the backend chosen at generation), its settings, migrations.

Every backend has the same public names: `Database` (`connect`, `close`, `ping`, `migrate`,
`UNREACHABLE`, and `items`, its `ItemRepository`: `create`, `get`, `list`, `delete`).
"""
