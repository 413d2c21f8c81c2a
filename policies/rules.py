"""The rule language: what a policy rule says, how it is checked, and how it is stored.

A rule gives a subject (a role or a principal), in a domain (a department, or ``*`` for all),
an act on some fields of a resource in an area::

    grid_worker   *   people   tier:2          own        read
    grid_worker   *   people   idNumber|phone  own        mask
    civil_app     *   people   tier:3          *          read   elderly_care|social_assistance
    night_shift   *   people   *               440306001  deny

- resource: ``grids``, ``houses``, ``rooms``, ``people``, ``entities``, ``events``, ``matters``,
  ``departments`` (the GraphQL types map onto them through ``policies.fields.RESOURCE_OF_TYPE``),
  or ``*``;
- fields: ``tier:N`` (every field declared at tier N or below), GraphQL field names joined by
  ``|`` (``idNumber|phone``, or type-qualified ``Person.idNumber``), or ``*``;
- area: an area code at any level (the rows whose grid code starts with it), ``own`` (the
  principal's assigned areas), or ``*`` (everywhere, including rows that belong to no place);
- act: ``read`` (ALLOW), ``mask`` (MASK: the field's declared mask), ``deny`` (overrides all),
  ``write`` (the field may be changed where it is also ALLOW: nobody writes what they can not
  read; a write shows nothing by itself);
- purposes (read rules only): the declared purposes (``X-Access-Purpose``) under which the rule
  serves fields of tier 3 and above; ``*`` serves any declared purpose, but one must be declared.

Everything here is pure: the Casbin matcher functions and the plan compiler both use the same
:func:`FieldSelector.covers`, :func:`area_covers` and friends, so the two can never disagree.
How rules are packed into Casbin's six columns is described in ``model.conf``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from policies.fields import FIELDS, RESOURCE_OF_TYPE, Tier
from store.models import LEVEL_OF_LENGTH

ANY = "*"
OWN = "own"

#: Resource name → the GraphQL types whose fields it holds (``grids``: Grid and GridStats).
TYPES_OF_RESOURCE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        resource: tuple(t for t, r in RESOURCE_OF_TYPE.items() if r == resource)
        for resource in dict.fromkeys(RESOURCE_OF_TYPE.values())
    }
)
RESOURCES: tuple[str, ...] = tuple(TYPES_OF_RESOURCE)

_DOMAIN = re.compile(r"[a-z][a-z0-9_]{0,31}")
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FIELD = re.compile(r"(?:([A-Z][A-Za-z]*)\.)?([a-z][A-Za-z0-9]*)")


class PolicyError(ValueError):
    """A rule that cannot be stored: the message says which part is wrong and what is allowed."""


class Act(enum.StrEnum):
    READ = "read"
    MASK = "mask"
    DENY = "deny"
    #: Propose a change to the field (a grid worker's correction). It shows nothing: a rule
    #: that writes a field adds to a read of it, and a field not read in full is never written.
    WRITE = "write"


# -- fields ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed ``fields`` value: ``tier:N``, ``a|Type.b``, or ``*``."""

    resource: str
    everything: bool = False
    tier: int | None = None
    #: (type or None for any type of the resource, field name)
    names: frozenset[tuple[str | None, str]] = frozenset()

    def covers(self, type_name: str, field_name: str) -> bool:
        if self.resource != ANY and RESOURCE_OF_TYPE.get(type_name) != self.resource:
            return False
        if self.everything:
            return field_name in FIELDS[type_name]
        if self.tier is not None:
            spec = FIELDS[type_name].get(field_name)
            return spec is not None and spec.tier <= self.tier
        return (None, field_name) in self.names or (type_name, field_name) in self.names

    def reach(self, type_name: str, field_name: str) -> int:
        """The highest value tier shown through this selector (for per-value tiers).

        ``tier:N`` reaches N; naming a field reaches its declared tier; ``*`` reaches all.
        """
        if self.everything:
            return int(max(Tier))
        if self.tier is not None:
            return self.tier
        return int(FIELDS[type_name][field_name].tier)


@cache
def parse_fields(resource: str, fields: str) -> FieldSelector:
    """Parse and check a ``fields`` value against the declared fields of ``resource``."""
    if fields == ANY:
        return FieldSelector(resource, everything=True)
    if fields.startswith("tier:"):
        level = fields.removeprefix("tier:")
        if level not in {str(int(t)) for t in Tier}:
            raise PolicyError(f"{fields!r}: a tier is 1 (public) to 4 (core), as in tier:2")
        return FieldSelector(resource, tier=int(level))
    types = TYPES_OF_RESOURCE.get(resource, ()) if resource != ANY else tuple(FIELDS)
    names: set[tuple[str | None, str]] = set()
    for part in fields.split("|"):
        match = _FIELD.fullmatch(part)
        if match is None:
            raise PolicyError(
                f"{part!r} in {fields!r}: give tier:N, *, or field names joined by | "
                "(idNumber|phone, Person.idNumber)"
            )
        type_name, field_name = match.groups()
        candidates = (type_name,) if type_name else types
        if type_name and type_name not in types:
            raise PolicyError(f"{part!r}: type {type_name} is not part of resource {resource!r}")
        if not any(field_name in FIELDS[t] for t in candidates):
            raise PolicyError(f"{part!r}: no such field in {', '.join(candidates)}")
        names.add((type_name, field_name))
    return FieldSelector(resource, names=frozenset(names))


# -- areas and purposes --------------------------------------------------------------------------


def check_area(area: str) -> str:
    if area in (ANY, OWN):
        return area
    if not (area.isascii() and area.isdigit() and len(area) in LEVEL_OF_LENGTH):
        lengths = ", ".join(str(n) for n in sorted(LEVEL_OF_LENGTH))
        raise PolicyError(f"{area!r}: an area is *, own, or an area code of {lengths} digits")
    return area


def expand_area(area: str, own: Sequence[str]) -> tuple[str, ...] | None:
    """The area codes a rule's area stands for; None means everywhere."""
    if area == ANY:
        return None
    if area == OWN:
        return tuple(own)
    return (area,)


def area_covers(codes: tuple[str, ...] | None, grid_code: str | None) -> bool:
    """Whether a row in ``grid_code`` (None: a row of no place) lies in the expanded area."""
    if codes is None:
        return True
    if grid_code is None:
        return False
    return any(grid_code.startswith(code) for code in codes)


def purposes_cover(purposes: frozenset[str], purpose: str | None) -> bool:
    """A declared purpose is needed; ``*`` among a rule's purposes accepts any of them."""
    return bool(purpose) and (ANY in purposes or purpose in purposes)


def check_purposes(purposes: Sequence[str]) -> tuple[str, ...]:
    if not purposes:
        raise PolicyError("a read rule needs its purposes: codes like case_handling, or *")
    for purpose in purposes:
        if purpose != ANY and not _PURPOSE.fullmatch(purpose):
            raise PolicyError(f"{purpose!r}: a purpose is a code like elderly_care, or *")
    if ANY in purposes:
        return (ANY,)
    return tuple(sorted(set(purposes)))


# -- rules ----------------------------------------------------------------------------------------


def check_name(kind: str, value: str) -> str:
    """Subjects come from identity providers (``auth0|5f…``): anything printable will do."""
    if not 0 < len(value) <= 128 or not value.isprintable() or value != value.strip():
        raise PolicyError(f"{kind} {value!r}: 1 to 128 printable characters, no outer spaces")
    return value


def check_domain(domain: str) -> str:
    if domain != ANY and not _DOMAIN.fullmatch(domain):
        raise PolicyError(f"domain {domain!r}: a department code (housing, civil_affairs) or *")
    return domain


def check_resource(resource: str) -> str:
    if resource != ANY and resource not in TYPES_OF_RESOURCE:
        raise PolicyError(f"resource {resource!r}: one of {', '.join(RESOURCES)}, or *")
    return resource


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as the rest of the code sees it (build it with :meth:`make` to check it)."""

    subject: str
    domain: str
    resource: str
    fields: str
    area: str
    act: Act
    #: Read rules: the purposes served for tier 3 and above; empty for mask and deny rules.
    purposes: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        subject: str,
        domain: str,
        resource: str,
        fields: str,
        area: str,
        act: Act | str = Act.READ,
        purposes: Sequence[str] = (ANY,),
    ) -> Rule:
        act = Act(act)
        resource = check_resource(resource)
        parse_fields(resource, fields)
        return cls(
            check_name("subject", subject),
            check_domain(domain),
            resource,
            fields,
            check_area(area),
            act,
            check_purposes(purposes) if act is Act.READ else (),
        )

    @property
    def selector(self) -> FieldSelector:
        return parse_fields(self.resource, self.fields)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a rule's purposes line is matched to its rule by (see ``model.conf``)."""
        return (self.subject, self.domain, f"{self.resource}/{self.fields}", self.area)

    def policy_line(self) -> list[str]:
        """The ``p`` line: sub, dom, obj, area, act, eft."""
        act, eft = {
            Act.READ: ("read", "allow"),
            Act.MASK: ("mask", "allow"),
            Act.DENY: (ANY, "deny"),
            Act.WRITE: ("write", "allow"),
        }[self.act]
        return [*self.key, act, eft]

    def purpose_line(self) -> list[str] | None:
        """The ``p2`` line of a read rule: sub, dom, obj, area, purposes."""
        return [*self.key, "|".join(self.purposes)] if self.act is Act.READ else None

    @classmethod
    def from_lines(cls, line: Sequence[str], purposes: str | None) -> Rule:
        subject, domain, obj, area, act, eft = line
        resource, _, fields = obj.partition("/")
        kind = Act.DENY if eft == "deny" else Act(act)
        found = tuple(purposes.split("|")) if purposes else ()
        return cls(subject, domain, resource, fields, area, kind, found if kind is Act.READ else ())

    def __str__(self) -> str:
        text = f"{self.subject} {self.domain} {self.resource} {self.fields} {self.area} {self.act}"
        return f"{text} {'|'.join(self.purposes)}" if self.purposes else text


@dataclass(frozen=True, slots=True)
class RoleLink:
    """``member`` (a principal or a role) has ``role`` in ``domain`` (a department, or ``*``)."""

    member: str
    role: str
    domain: str = ANY

    @classmethod
    def make(cls, member: str, role: str, domain: str = ANY) -> RoleLink:
        if member == role:
            raise PolicyError(f"{member!r} cannot be its own role")
        return cls(check_name("member", member), check_name("role", role), check_domain(domain))

    def line(self) -> list[str]:
        return [self.member, self.role, self.domain]

    def __str__(self) -> str:
        return f"{self.member} -> {self.role} in {self.domain}"


# -- the Casbin matcher functions ------------------------------------------------------------------


def object_match(requested: str, stored: str) -> bool:
    """``objectMatch(r.obj, p.obj)``: ``Person.idNumber`` against ``people/idNumber|phone``."""
    type_name, _, field_name = requested.partition(".")
    resource, _, fields = stored.partition("/")
    try:
        return parse_fields(resource, fields).covers(type_name, field_name)
    except (PolicyError, KeyError):
        return False


#: The act asked for when only a mask line may answer (not a read, which shows the mask too):
#: whether a tier-3 field without a covered purpose falls back to its mask.
MASK_LINE = "mask-line"


def act_match(requested: str, stored: str) -> bool:
    """``actMatch(r.act, p.act)``: deny lines (``*``) meet every act; a read shows the mask too."""
    if requested == MASK_LINE:
        return stored in (ANY, Act.MASK)
    return stored in (ANY, requested) or (requested == Act.MASK and stored == Act.READ)


def purpose_match(requested: str, stored: str) -> bool:
    """``purposeMatch(r2.purpose, p2.purposes)``."""
    return purposes_cover(frozenset(stored.split("|")), requested)


def domain_match(requested: str, stored: str) -> bool:
    """Role links and rules in domain ``*`` apply in every department."""
    return stored in (ANY, requested)
