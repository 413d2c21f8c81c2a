"""Access policies: who may see which rows and fields, decided once per request.

- ``fields``        the one declaration of every shared field: resource, tier, mask
- ``rules``         the rule language (resource, fields, area, act, purposes), checked and parsed
- ``model.conf``    the Casbin model: how a rule is packed into ``casbin_rule``
- ``store``         the policy store: Casbin's enforcer over the hub's database, a typed API
- ``grants``        grants as roles ``grant:<id>`` (written by the catalogue's workflow)
- ``principal``     who a plan is for; ``people``: person principals kept by operators
- ``access``        from a verified identity to the request's principal and plan;
  ``access_watch``  hearing of access changes (PostgreSQL LISTEN/NOTIFY)
- ``plan``          the access plan, its compiler and its cache
- ``resource_plan`` one resource's row predicate and field decisions
- ``decision``      the four answers a plan gives for a field of a row
- ``field_rules``   what the resolvers apply of a plan; the fixed ``OpenPlan`` and ``NOTHING``
- ``areas``         "everything under area X" as an index range
- ``masking``       the house-style masks a MASK decision shows
- ``defaults``      the demo district's roles and rules, as data

Nothing is built at import time: the app creates one ``PolicyStore`` and one ``PlanCache``.
"""
