from __future__ import annotations

import orjson

from hub.execution import Executor
from policies.field_rules import OpenPlan
from resolvers.context import RequestContext
from schema import build_schema

Q = """{ grid(code: "440306001001001") { code name level __typename
  houses(first: 2) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id address use residents(first: 2) { edges { node { id name gender age phone } } } } } } }
  houses(first: 3) { edges { node { code } } } }"""


async def test_smoke(settings, engine) -> None:
    schema = build_schema()
    for compiled in (False, True):
        ex = Executor(schema, 0, compiled=compiled)
        context = RequestContext.build(settings, engine, OpenPlan())
        try:
            body = await ex.run(ex.prepare(Q), None, None, context)
            print(compiled, context.compiled_fields, sorted(context.person_ids), dict(context.row_counts))
            print(orjson.dumps(body).decode()[:1500])
        finally:
            await context.close()
