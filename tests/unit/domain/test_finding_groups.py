"""Grouping shortfall findings on overlapping strata (monitor.domain.finding_groups): the overlap rule, the
choice of the primary (most attributes, then largest shortfall of the upper bound below the goal, then fewest
cases), and properties that hold for any input (hypothesis): every finding in exactly one group, every related
finding overlapping its primary, no two primaries of a kind overlapping, order of the input irrelevant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain.finding_groups import Shortfall, group_findings, specificity_order, strata_overlap

GOAL = 0.85


def _finding(attrs: dict[str, str], upper: float | None = 0.80, trials: int = 500, *, metric: str = "sensitivity",
             version: str = "2.1.0", goal: float | None = GOAL) -> Shortfall:
    key = " & ".join(f"{k}={v}" for k, v in sorted(attrs.items())) or "overall"
    return Shortfall(f"{version}/{metric}/{key}", version, metric, key, attrs, upper, goal, trials)


def _ids(groups) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return [(g.primary.stratum, [r.stratum for r in g.related]) for g in groups]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ({"age": ">=75", "emph": "severe"}, {"emph": "severe"}, True),           # contains
        ({"age": ">=75", "emph": "severe"}, {"age": ">=75", "sex": "F"}, True),  # agree on the shared attribute
        ({"age": ">=75", "sex": "M"}, {"age": ">=75", "sex": "F"}, False),       # disagree on one: disjoint
        ({"age": ">=75", "emph": "severe"}, {"emph": "mild"}, False),
        ({"age": ">=75"}, {"emph": "severe"}, False),                            # disjoint attributes
        ({}, {"emph": "severe"}, True),                                           # the overall population
        ({"age": "<45"}, {"age": "<45"}, True),
    ],
)
def test_strata_overlap(a: dict[str, str], b: dict[str, str], overlap: bool) -> None:
    assert strata_overlap(a, b) is overlap and strata_overlap(b, a) is overlap


def test_the_issue_example_opens_one_group_with_the_intersection_as_primary() -> None:
    cell = _finding({"age": ">=75", "emph": "severe"}, upper=0.72, trials=120)
    women = _finding({"age": ">=75", "sex": "F"}, upper=0.83, trials=900)
    severe = _finding({"emph": "severe"}, upper=0.84, trials=1_500)
    (group,) = group_findings([severe, women, cell])
    assert group.primary == cell and group.related == (women, severe) and group.members[0] == cell


def test_ties_on_attributes_go_to_the_larger_shortfall_then_to_fewer_cases() -> None:
    deeper = _finding({"age": ">=75", "sex": "F"}, upper=0.70, trials=800)
    shallower = _finding({"age": ">=75", "emph": "severe"}, upper=0.80, trials=100)
    assert group_findings([shallower, deeper])[0].primary == deeper
    smaller = _finding({"age": ">=75", "emph": "severe"}, upper=0.80, trials=100)
    larger = _finding({"age": ">=75", "sex": "F"}, upper=0.80, trials=800)
    assert group_findings([larger, smaller])[0].primary == smaller
    unknown = _finding({"age": ">=75", "sex": "M"}, upper=None, trials=10)
    assert specificity_order(unknown) > specificity_order(larger)  # an unknown shortfall ranks last in its tier


def test_disjoint_cells_keep_their_own_groups_and_a_stratum_containing_both_joins_the_first() -> None:
    old_women = _finding({"age": ">=75", "sex": "F"}, upper=0.70)
    young_men = _finding({"age": "<45", "sex": "M"}, upper=0.78)
    overall = _finding({}, upper=0.845, trials=20_000)
    assert _ids(group_findings([overall, young_men, old_women])) == [
        ("age=>=75 & sex=F", ["overall"]), ("age=<45 & sex=M", [])]


def test_different_metrics_and_model_versions_never_share_a_group() -> None:
    sens = _finding({"age": ">=75"})
    spec = _finding({"age": ">=75"}, metric="specificity")
    newer = _finding({"age": ">=75"}, version="2.2.0")
    groups = group_findings([newer, spec, sens])
    assert [(g.primary.model_version, g.primary.metric, g.related) for g in groups] == [
        ("2.1.0", "sensitivity", ()), ("2.1.0", "specificity", ()), ("2.2.0", "sensitivity", ())]


def test_duplicates_are_refused() -> None:
    one = _finding({"age": ">=75"})
    with pytest.raises(ValueError, match="distinct"):
        group_findings([one, one])
    with pytest.raises(ValueError, match="one finding"):
        group_findings([one, Shortfall("other", *list(vars(one).values())[1:])])


LEVELS = {"age": ["<45", ">=75"], "sex": ["F", "M"], "emph": ["none", "severe"]}
STRATA = [{}] + [{a: v} for a, vs in LEVELS.items() for v in vs] + [
    {a: v, b: w} for a in LEVELS for b in LEVELS if a < b for v in LEVELS[a] for w in LEVELS[b]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(range(len(STRATA))), st.sampled_from(["sensitivity", "specificity"]),
                          st.one_of(st.none(), st.floats(0.5, 0.85)), st.integers(1, 5_000)),
                unique_by=lambda t: (t[0], t[1]), max_size=20),
       st.randoms(use_true_random=False))
def test_grouping_properties(rows, rng) -> None:  # type: ignore[no-untyped-def]
    findings = [_finding(STRATA[i], upper=upper, trials=n, metric=metric) for i, metric, upper, n in rows]
    groups = group_findings(findings)
    members = [m for g in groups for m in g.members]
    assert sorted(m.finding_id for m in members) == sorted(f.finding_id for f in findings)
    for g in groups:
        assert all(strata_overlap(g.primary.attributes, r.attributes) and r.metric == g.primary.metric
                   for r in g.related)
        assert all(specificity_order(g.primary) < specificity_order(r) for r in g.related)
    for g in groups:
        for h in groups:
            if g is not h and g.primary.metric == h.primary.metric:
                assert not strata_overlap(g.primary.attributes, h.primary.attributes)
    shuffled = list(findings)
    rng.shuffle(shuffled)
    assert group_findings(shuffled) == groups
