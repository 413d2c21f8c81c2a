"""The data-resource catalogue (数据资源目录), and the access requests and grants made on it.

A resource lists fields; each field's tier and mask come from its one declaration in
:mod:`policies.fields`, never from a copy here.

- :mod:`catalog.columns` — where each field a resource may list is stored (for statistics).
- :mod:`catalog.resources` — a resource's definition and the rules every definition keeps.
- :mod:`catalog.files` — the catalogue files (``catalog/resources/*.toml``) and their reader.
- :mod:`catalog.store` — the catalogue in the database: filter, read, save a version.
- :mod:`catalog.statistics` — live counts: rows, completeness per field, last change.
- :mod:`catalog.changes` — a data officer's registration or update, one transaction each.
- :mod:`catalog.sync` — ``gridhub catalog sync``: the files into the database.
- :mod:`catalog.requests` — access requests and grants in the database: states, reading, lists.
- :mod:`catalog.workflow` — ask, review, decide, revoke, expire: one transaction each.
- :mod:`catalog.grants` — a grant becomes one rule of its role ``grant:<id>``, and goes again.
- :mod:`catalog.sweep` — each process's periodic sweep of grants past their expiry.
"""
