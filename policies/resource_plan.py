"""One resource's part of an access plan: its row predicate and its field decisions.

A :class:`ResourcePlan` is compiled from the rules that name the resource (or ``*``), with their
areas already expanded for the principal (:class:`CompiledRule`). Rows: the union of the areas
of the allow rules (read or mask), minus the areas of deny rules whose fields are ``*``, as a SQL
predicate on the rows' grid-code column. Fields: per grid code, the decision of every field of
the resource's types, over the rules whose area covers that grid code:

- any deny → DENY; else any read → ALLOW; else any mask → MASK; else DENY (deny by default);
- an ALLOW of a field of tier 3 or above needs the declared purpose among the purposes of a
  covering read rule; without it the field is MASK if a mask rule covers it, else
  PURPOSE_REQUIRED; MASK never needs a purpose.

Decisions are computed on first use and then looked up: grid codes covered by the same rules
share one :class:`Cell`, so a page of thousands of fields costs no Casbin call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import ColumnElement, and_, false, not_, or_, true

from policies.areas import under_area
from policies.decision import Decision
from policies.field_rules import FieldRules
from policies.fields import FIELDS, Mask, Tier
from policies.rules import (
    ANY,
    TYPES_OF_RESOURCE,
    Act,
    FieldSelector,
    Rule,
    area_covers,
    purposes_cover,
)

Areas = tuple[str, ...] | None  # area codes; None: everywhere


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with its area expanded for this principal and its selector parsed."""

    rule: Rule
    areas: Areas
    selector: FieldSelector
    purposes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Cell:
    """The field decisions (and value reach) of one type for rows under one set of rules,
    and the same as the resolvers take them (built once, shared by every such row)."""

    decisions: Mapping[str, Decision]
    reach: Mapping[str, int]
    rules: FieldRules
    #: The fields that may be written here: ALLOW, and a write rule covers them.
    writes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ResourceDescription:
    """What a principal can see of one resource, for ``Query.me``.

    ``fields`` gives, per area (``*`` for everywhere else the principal sees), the decision of
    every field that is not DENY, keyed ``Type.field``; when ``*`` is there, an area code gives
    only the decisions that differ from it (DENY included).
    """

    resource: str
    areas: tuple[str, ...]
    excluded: tuple[str, ...]
    fields: Mapping[str, Mapping[str, Decision]]
    #: Per area and ``Type.field`` listed in ``fields``, the purposes that serve the field's
    #: full value (tier 3 and above; ``*``: any declared purpose); fields needing none are left
    #: out.
    purposes: Mapping[str, Mapping[str, tuple[str, ...]]]


def _differences(
    decided: Mapping[str, Decision], everywhere: Mapping[str, Decision]
) -> Mapping[str, Decision]:
    """``decided``'s decisions that are not ``everywhere``'s, with DENY for what it lacks."""
    differing = {key: value for key, value in decided.items() if everywhere.get(key) != value}
    differing |= {key: Decision.DENY for key in everywhere if key not in decided}
    return MappingProxyType(differing)


def _minimal(codes: set[str]) -> tuple[str, ...]:
    """Drop codes under another code of the set: ``{44, 4401}`` → ``(44,)``."""
    kept: list[str] = []
    for code in sorted(codes, key=len):
        if not any(code.startswith(k) for k in kept):
            kept.append(code)
    return tuple(sorted(kept))


def _union(rules: Sequence[CompiledRule]) -> Areas:
    codes: set[str] = set()
    for rule in rules:
        if rule.areas is None:
            return None
        codes.update(rule.areas)
    return _minimal(codes)


class ResourcePlan:
    """One resource's row predicate and field decisions for one principal and purpose."""

    def __init__(self, resource: str, rules: Sequence[CompiledRule], purpose: str | None) -> None:
        self.name = resource
        self.types = TYPES_OF_RESOURCE[resource]
        self._rules = tuple(rules)
        self._purpose = purpose
        # Rows are shown by reads and masks; a write rule shows nothing by itself.
        allowing = [r for r in rules if r.rule.act in (Act.READ, Act.MASK)]
        removing = [r for r in rules if r.rule.act is Act.DENY and r.selector.everything]
        self._shown: Areas = _union(allowing) if allowing else ()
        self._hidden: Areas = _union(removing) if removing else ()
        # type → grid code → cell; and type → covering rules → cell (grids share cells).
        self._by_grid: dict[str, dict[str | None, Cell]] = {t: {} for t in self.types}
        self._by_rules: dict[str, dict[tuple[int, ...], Cell]] = {t: {} for t in self.types}
        self._predicates: dict[ColumnElement[str] | None, ColumnElement[bool]] = {}
        self._shown_rows: dict[tuple[ColumnElement[str], str, str], ColumnElement[bool]] = {}

    # -- rows --------------------------------------------------------------------------------------

    def visible(self, grid_code: str | None) -> bool:
        """Whether a row in ``grid_code`` is in the plan (the Python twin of :meth:`rows`)."""
        return area_covers(self._shown, grid_code) and not area_covers(self._hidden, grid_code)

    def rows(self, column: ColumnElement[str] | None) -> ColumnElement[bool]:
        """The predicate limiting rows, on their grid-code column (None: rows of no place);
        built once per column (building it cost more than the plan look-up)."""
        found = self._predicates.get(column)
        if found is None:
            found = self._predicates[column] = self._rows(column)
        return found

    def _rows(self, column: ColumnElement[str] | None) -> ColumnElement[bool]:
        if column is None:
            return true() if self.visible(None) else false()
        hidden = self._hidden
        if hidden is None or self._shown == ():
            return false()
        shown = self._shown
        if shown is not None:
            shown = tuple(a for a in shown if not any(a.startswith(h) for h in hidden))
            if not shown:
                return false()
            hidden = tuple(h for h in hidden if any(h.startswith(a) for a in shown))
        predicate: ColumnElement[bool] = (
            true() if shown is None else or_(*(under_area(column, code) for code in shown))
        )
        if hidden:
            predicate = and_(predicate, not_(or_(*(under_area(column, h) for h in hidden))))
        return predicate

    # -- fields ------------------------------------------------------------------------------------

    def _cell(self, grid_code: str | None, type_name: str | None) -> Cell:
        type_name = type_name or self.types[0]
        by_grid = self._by_grid[type_name]
        cell = by_grid.get(grid_code)
        if cell is None:
            covering = tuple(
                i for i, rule in enumerate(self._rules) if area_covers(rule.areas, grid_code)
            )
            by_rules = self._by_rules[type_name]
            cell = by_rules.get(covering)
            if cell is None:
                cell = by_rules[covering] = self._decide(type_name, covering)
            by_grid[grid_code] = cell
        return cell

    def _decide(self, type_name: str, covering: tuple[int, ...]) -> Cell:
        rules = [self._rules[i] for i in covering]
        decisions: dict[str, Decision] = {}
        reach: dict[str, int] = {}
        for field_name in FIELDS[type_name]:
            decision, shown = self._field(type_name, field_name, rules)
            decisions[field_name] = decision
            if shown:
                reach[field_name] = shown
        field_rules = FieldRules(type_name, dict(decisions), reach)
        writes = frozenset(
            field_name
            for field_name, decision in decisions.items()
            if decision is Decision.ALLOW
            and any(
                r.rule.act is Act.WRITE and r.selector.covers(type_name, field_name) for r in rules
            )
        )
        return Cell(MappingProxyType(decisions), MappingProxyType(reach), field_rules, writes)

    def _field(
        self, type_name: str, field_name: str, rules: Sequence[CompiledRule]
    ) -> tuple[Decision, int]:
        """One field's decision under the rules covering a row, and its value reach."""
        spec = FIELDS[type_name][field_name]
        acts = [r for r in rules if r.selector.covers(type_name, field_name)]
        if any(r.rule.act is Act.DENY for r in acts):
            return Decision.DENY, 0
        reads = [r for r in acts if r.rule.act is Act.READ]
        masks = any(r.rule.act is Act.MASK for r in acts)
        if reads:
            if spec.tier >= Tier.SENSITIVE:
                reads = [r for r in reads if purposes_cover(r.purposes, self._purpose)]
                if not reads and masks:
                    # A purpose-bound read adds to a mask; it never takes the mask away.
                    return Decision.MASK, int(Tier.INTERNAL) if spec.value_tiers else 0
                if not reads:
                    return Decision.PURPOSE_REQUIRED, 0
            shown = max(r.selector.reach(type_name, field_name) for r in reads)
            return Decision.ALLOW, shown if spec.value_tiers else 0
        if masks:
            # The mask of a field with per-value tiers shows the internal tier (the age tags).
            return Decision.MASK, int(Tier.INTERNAL) if spec.value_tiers else 0
        return Decision.DENY, 0

    def decisions(
        self, grid_code: str | None, type_name: str | None = None
    ) -> Mapping[str, Decision]:
        """Every field's decision for rows of ``type_name`` (default: the resource's main type)
        in ``grid_code`` (None: rows of no place). Memoized per grid code."""
        return self._cell(grid_code, type_name).decisions

    def field_rules(self, grid_code: str | None, type_name: str | None = None) -> FieldRules:
        """:meth:`decisions` and :meth:`reach` in the form ``policies.field_rules`` applies."""
        return self._cell(grid_code, type_name).rules

    def writable(self, grid_code: str | None, type_name: str | None = None) -> frozenset[str]:
        """The fields of a row in ``grid_code`` the principal may write: a row it sees, a
        field it reads in full there (ALLOW, not MASK, not a purpose short), and a write rule
        covering both. Deny overrides, as for reads."""
        if not self.visible(grid_code):
            return frozenset()
        return self._cell(grid_code, type_name).writes

    def reach(self, grid_code: str | None, field_name: str, type_name: str | None = None) -> int:
        """The highest value tier shown of a field with per-value tiers (care tags): a
        ``tier:N`` rule reaches N, a rule naming the field its declared tier; 0: nothing."""
        return self._cell(grid_code, type_name).reach.get(field_name, 0)

    # -- the whole picture ---------------------------------------------------------------------

    def places(self) -> tuple[str, ...]:
        """One grid code standing for each distinct set of covering rules among visible rows.

        Decisions change only where a rule's area starts, so the rule areas themselves (and
        ``""`` for everywhere else, when the principal sees everywhere) stand for every row.
        """
        codes = {code for rule in self._rules for code in rule.areas or ()}
        places = [code for code in sorted(codes) if self.visible(code)]
        if self._shown is None and self._hidden is not None:
            places.insert(0, "")
        return tuple(places)

    def filterable(
        self, field_name: str, type_name: str | None = None, value_tier: int | None = None
    ) -> bool:
        """Whether lists may be filtered or sorted on the field: ALLOW everywhere visible, and
        for a field with per-value tiers (care tags), the value's tier within reach everywhere.

        Anything less would let a caller recover masked, denied or hidden values by bisection
        (filter on a core care tag, count who has it).
        """
        places = self.places()
        return bool(places) and all(
            self.decisions(place, type_name).get(field_name) is Decision.ALLOW
            and (value_tier is None or self.reach(place, field_name, type_name) >= value_tier)
            for place in places
        )

    def area_splits(self, area: str) -> bool:
        """Whether the rows under ``area`` are some but not all of the rows the plan shows.

        An area filter that keeps all of them or none tells nothing a count would not, so it
        is served without ``gridCode`` (a grant narrowed to one grid, filtered by that grid or
        an area around it). One that splits them would tell which rows lie where. With areas
        carved out of the shown ones, or rows shown everywhere, the answer is yes: the filter
        then needs ``gridCode`` as any other does."""
        shown = self._shown
        if shown is None or self._hidden != ():
            return True
        covered = apart = False
        for code in shown:
            if code.startswith(area):
                covered = True
            elif area.startswith(code):
                return True  # inside one of the areas shown: part of its rows
            else:
                apart = True
        return covered and apart

    def needs_purpose(self, field_name: str, type_name: str | None = None) -> bool:
        """Whether a covered purpose is what stands between the caller and filtering on the
        field: PURPOSE_REQUIRED somewhere visible, and ALLOW everywhere else (a filter that a
        purpose would not unlock is FORBIDDEN, not PURPOSE_REQUIRED)."""
        seen = {
            self.decisions(place, type_name).get(field_name, Decision.DENY)
            for place in self.places()
        }
        return Decision.PURPOSE_REQUIRED in seen and seen <= {
            Decision.ALLOW,
            Decision.PURPOSE_REQUIRED,
        }

    def shown_rows(
        self, column: ColumnElement[str], field_name: str, type_name: str | None = None
    ) -> ColumnElement[bool]:
        """The predicate, on rows' grid-code column, of the rows whose ``field_name`` is shown
        as it is: ALLOW, or MASK of a field whose mask hides nothing (what ``schema.guard``
        resolves rather than nulls). A map view draws a row only where its location is shown,
        so this keeps the rows it can not draw out in SQL.

        Decisions change only where a rule's area starts: each rule area (and ``""``, every
        other place) decides the rows under it but not under a deeper rule area.
        """
        type_name = type_name or self.types[0]
        key = (column, type_name, field_name)
        found = self._shown_rows.get(key)
        if found is None:
            found = self._shown_rows[key] = self._shown_where(column, type_name, field_name)
        return found

    def _shown_where(
        self, column: ColumnElement[str], type_name: str, field_name: str
    ) -> ColumnElement[bool]:
        codes = sorted({code for rule in self._rules for code in rule.areas or ()})
        mask = FIELDS[type_name][field_name].mask
        regions: list[ColumnElement[bool]] = []
        refused = False
        for region in ("", *codes):
            decision = self.decisions(region, type_name).get(field_name, Decision.DENY)
            if not (
                decision is Decision.ALLOW or (decision is Decision.MASK and mask is Mask.NONE)
            ):
                refused = True
                continue
            deeper = [under_area(column, c) for c in codes if c != region and c.startswith(region)]
            inside = true() if region == "" else under_area(column, region)
            regions.append(and_(inside, not_(or_(*deeper))) if deeper else inside)
        if not refused:
            return true()
        return or_(*regions) if regions else false()

    def describe(self) -> ResourceDescription:
        """What the principal sees of the resource, area by area (for ``Query.me``)."""
        fields: dict[str, Mapping[str, Decision]] = {}
        for place in self.places():
            fields[place or ANY] = MappingProxyType(
                {
                    f"{type_name}.{field_name}": decision
                    for type_name in self.types
                    for field_name, decision in self.decisions(place, type_name).items()
                    if decision is not Decision.DENY
                }
            )
        everywhere = fields.get(ANY)
        if everywhere is not None:
            # An area lists only what it decides otherwise than everywhere else (a DENY among
            # them where it refuses what is seen elsewhere), so no field is listed twice with
            # one decision and an area decided like everywhere else is not listed at all.
            fields = {ANY: everywhere} | {
                area: differing
                for area, decided in fields.items()
                if area != ANY and (differing := _differences(decided, everywhere))
            }
        shown = (ANY,) if self._shown is None else self._shown
        hidden = (ANY,) if self._hidden is None else self._hidden
        purposes: dict[str, Mapping[str, tuple[str, ...]]] = {}
        for area, decided in fields.items():
            place = "" if area == ANY else area
            serving = {
                key: found
                for key, decision in decided.items()
                if decision is not Decision.DENY
                and (found := self.unlocking_purposes(place, *key.split(".", 1)))
            }
            if serving:
                purposes[area] = MappingProxyType(serving)
        return ResourceDescription(
            self.name, shown, hidden, MappingProxyType(fields), MappingProxyType(purposes)
        )

    def unlocking_purposes(
        self, grid_code: str | None, type_name: str, field_name: str
    ) -> tuple[str, ...]:
        """The purposes whose declaration serves a field of tier 3 or above in full for rows
        in ``grid_code``: those of the covering read rules (``("*",)``: any purpose). Empty
        when the field needs no purpose, or when no purpose would serve it (a deny, no read)."""
        if FIELDS[type_name][field_name].tier < Tier.SENSITIVE:
            return ()
        acts = [
            r
            for r in self._rules
            if area_covers(r.areas, grid_code) and r.selector.covers(type_name, field_name)
        ]
        if any(r.rule.act is Act.DENY for r in acts):
            return ()
        served = frozenset().union(*(r.purposes for r in acts if r.rule.act is Act.READ))
        return (ANY,) if ANY in served else tuple(sorted(served))

    def serves(self, purpose: str) -> bool:
        """Whether a read rule of the resource serves a field of tier 3 or above for
        ``purpose`` (a rule of public fields accepts any purpose, which tells nothing)."""
        return any(
            r.rule.act is Act.READ
            and purposes_cover(r.purposes, purpose)
            and any(
                spec.tier >= Tier.SENSITIVE and r.selector.covers(type_name, field_name)
                for type_name in self.types
                for field_name, spec in FIELDS[type_name].items()
            )
            for r in self._rules
        )
