"""Access policies: who may see which rows and fields, decided once per request.

- ``model.conf``  the Casbin model: how a rule is packed into ``casbin_rule`` and what it means
- ``rules``       the rule language (resource, fields, area, act, purposes), checked and parsed
- ``store``       the policy store: Casbin's enforcer over the hub's database, a typed API
- ``plan``        the access-plan compiler and its cache: one resource plan per resource
- ``resource_plan`` a resource's row predicate and field decisions, and what rules mean there
- ``masking``     the house-style masks a MASK decision shows
- ``grants``      grants as roles ``grant:<id>`` (written by the catalogue's workflow)
- ``defaults``    the demo district's roles and rules, as data

Nothing is built at import time: the app creates one ``PolicyStore`` and one ``PlanCache``.
"""
