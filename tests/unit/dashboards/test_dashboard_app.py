"""The dashboard's pages run by Streamlit's AppTest on a seeded database (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.auth import TOKEN_KEY
from unit.dashboards.dashboard_seed import (  # noqa: F401  (fixtures)
    DEVICE, PASSWORD, TARGET, dashboard, literal, seeded)

Start = Callable[..., AppTest]


def _texts(at: AppTest) -> str:
    parts = [m.value for m in (*at.markdown, *at.caption, *at.error, *at.success, *at.info, *at.warning,
                               *at.header, *at.subheader, *at.title)]
    return "\n".join(literal(p) for p in parts)


def _page(at: AppTest, name: str) -> AppTest:
    at.radio(key="page").set_value(name).run()
    assert not at.exception, at.exception
    return at


def test_login_is_required_and_a_wrong_password_is_refused(dashboard: Start) -> None:
    at = dashboard()
    assert at.text_input(key="login_user") is not None and not at.sidebar.radio
    at.text_input(key="login_user").input("qa1")
    at.text_input(key="login_password").input("not the password")
    at.button[0].click().run()
    assert "Sign-in failed" in at.error[0].value
    assert TOKEN_KEY not in at.session_state


def test_overview_shows_current_period_completeness_findings_and_tickets(dashboard: Start,
                                                                         seeded: dict[str, Any]) -> None:
    at = dashboard("qa1")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert literal(metrics["Current period"]) == "2025Q3"
    assert metrics["Open findings"] == str(len(seeded["outcomes"][-1].document["findings"]) +
                                           len(seeded["outcomes"][-1].document["sequential_alarms"]))
    assert int(metrics["Open tickets"]) >= 1
    total = seeded["outcomes"][-1].document["completeness"]["total"]
    assert metrics["Label completeness"] == f"{total['with_ground_truth'] / total['predictions']:.1%}"
    assert at.sidebar.selectbox(key="device").value == DEVICE


def test_heat_map_marks_the_flagged_stratum_and_low_n_cells(dashboard: Start) -> None:
    at = _page(dashboard("audit1"), "Heat map")
    at.selectbox(key="heat_rows").set_value("age_band").run()
    at.selectbox(key="heat_columns").set_value("emphysema_grade").run()
    assert any(TARGET in literal(e.value) for e in at.error), _texts(at)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    at.selectbox(key="heat_metric").set_value("specificity").run()
    assert not at.exception and "No specificity shortfall shown" in _texts(at)


def test_trend_lists_the_flagged_strata_first_with_their_charts(dashboard: Start, seeded: dict[str, Any]) -> None:
    at = _page(dashboard("qa1"), "Trends")
    flagged = {f["stratum"] for f in seeded["outcomes"][-1].document["findings"]}
    options = at.selectbox(key="trend_stratum").options
    assert TARGET in flagged and set(options[:len(flagged)]) == flagged
    at.selectbox(key="trend_stratum").set_value(TARGET).run()
    assert at.selectbox(key="trend_metric").value == "sensitivity"
    frame = at.dataframe[-1].value
    assert list(frame["period"]) == ["2025Q2", "2025Q3"] and list(frame["status"])[-1] == "flagged"
    charted = any(c["stratum"] == TARGET and c["metric"] == "sensitivity" for o in seeded["outcomes"]
                  for c in o.document["sequential"]["cusum"])  # a chart has a period segment once cases are known
    assert ("CUSUM" in _texts(at)) == charted


def test_findings_drift_and_reports_pages(dashboard: Start, seeded: dict[str, Any]) -> None:
    at = _page(dashboard("audit1"), "Findings")
    assert TARGET in at.dataframe[0].value["stratum"].tolist()
    _page(at, "Data drift")
    drift = at.dataframe[0].value
    assert {"age", "score", "positive_call_rate"} <= set(drift["feature"]) and (drift["threshold"].dropna() > 0).all()
    assert set(drift["verdict"]) <= {"drifted", "not drifted", "no reference", "not compared"}
    assert "drifted" not in drift  # shown as the verdict: an empty check box would read "not drifted"
    _page(at, "Reports")
    labels = sorted(literal(b.proto.label) for b in at.get("download_button"))
    assert labels == ["CSV · —", "CSV · —", "JSON · en", "JSON · zh-CN"]
    assert len(labels) == len(seeded["reports"])


def test_auditor_reads_tickets_without_write_controls(dashboard: Start) -> None:
    at = _page(dashboard("audit1"), "Tickets")
    assert at.selectbox(key="ticket_selected").value.startswith("RT-")
    assert "Read only: role auditor" in _texts(at)
    assert not at.text_area and not [b for b in at.button if b.label in ("Apply transition", "Add comment")]


#: CAPA items 3-5 (risk, reportability for each registered jurisdiction, containment): what triage needs.
TRIAGE_RECORD = {
    "risk": {"hazard": "missed actionable nodule", "harm": "delayed diagnosis", "risk_file_item": "RMF-H-012",
             "iec62304_class": "B", "triage_decision": "contain_and_investigate"},
    "reportability": {"assessments": [{"jurisdiction": j, "event_class": "not_reportable",
                                       "rationale": "no harm reported"} for j in ("NMPA", "FDA")]},
    "containment": {"measures": "double read of the stratum's studies", "effective_at": "2025-10-01T00:00:00Z"},
}


def test_qa_triages_and_comments_a_ticket(dashboard: Start, seeded: dict[str, Any]) -> None:
    from monitor.service.tickets import get_ticket, update_capa

    app = seeded["app"]
    at = _page(dashboard("qa1"), "Tickets")
    ticket = at.selectbox(key="ticket_selected").value

    def triage() -> None:
        at.selectbox(key=f"target-{ticket}").set_value("triaged")
        at.text_input(key=f"reason-{ticket}").input("confirmed with the site; collecting cases")
        at.button(key=f"FormSubmitter:transition-{ticket}-Apply transition").click().run()
        assert not at.exception, at.exception

    triage()  # the CAPA record lacks items 3-5: refused with what is missing, not a stack trace
    refusal = "\n".join(literal(e.value) for e in at.error)
    assert f"cannot move {ticket} to 'triaged': the CAPA record lacks" in refusal, _texts(at)
    assert all(f"item {n} " in refusal for n in (3, 4, 5)) and "risk.hazard" in refusal
    assert get_ticket(ticket, uow=app.uow)["status"] == "open"
    for section, values in TRIAGE_RECORD.items():  # as `samd-monitor tickets capa set` does
        update_capa(ticket, section, values, actor="qa1", uow=app.uow, clock=app.clock)
    triage()
    assert f"{ticket} moved to triaged." in _texts(at)
    at.text_area(key=f"comment-{ticket}").input("second reader rota in place")
    at.button(key=f"FormSubmitter:comment-{ticket}-Add comment").click().run()
    assert "Comment added." in _texts(at)
    stored = get_ticket(ticket, uow=app.uow)
    assert stored["status"] == "triaged"
    assert [c["body"] for c in stored["comments"]] == ["second reader rota in place"]
    assert stored["transitions"][-1]["actor"] == "qa1"


def test_sign_in_rotates_the_session_token_and_a_planted_or_replayed_one_grants_nothing(dashboard: Start) -> None:
    from dashboards.auth import session_store

    from monitor.service.access import Principal

    at = dashboard()
    at.session_state["principal"] = Principal(name="qa1", role="qa", user_id="qa1")  # the state no longer decides
    at.session_state[TOKEN_KEY] = "planted-before-sign-in"
    at.session_state["page"] = "Tickets"
    at.run()
    assert at.text_input(key="login_user") is not None and not at.sidebar.radio  # not signed in
    at.text_input(key="login_user").input("qa1")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    token = at.session_state[TOKEN_KEY]
    assert token != "planted-before-sign-in" and session_store().get(token)[0].name == "qa1"
    assert at.radio(key="page").value == "Overview"  # nothing set before sign-in was carried over
    at.button(key="logout").click().run()
    assert TOKEN_KEY not in at.session_state and session_store().get(token) == (None, None)
    at.session_state[TOKEN_KEY] = token  # the old page state restored: the server no longer knows it
    at.run()
    assert not at.sidebar.radio and at.text_input(key="login_user") is not None


def test_an_idle_session_expires_on_the_server(dashboard: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards import auth

    at = dashboard("audit1")
    assert at.sidebar.radio
    later = auth._now() + auth.session_store().policy.idle
    monkeypatch.setattr(auth, "_now", lambda: later)
    at.run()
    assert not at.sidebar.radio and TOKEN_KEY not in at.session_state
    assert "Your session expired" in _texts(at)


def test_repeated_failures_are_throttled_with_one_message_for_known_and_unknown_users(
        dashboard: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards.auth import FAILED, sign_in_throttle
    from dashboards.sessions import ThrottlePolicy

    at = dashboard()
    from datetime import timedelta

    # 2 free failures, not 5 (fewer password hashes); a 1-minute first delay (the test runs on the real clock)
    monkeypatch.setattr(sign_in_throttle(), "policy", ThrottlePolicy(free_per_pair=2, base_delay=timedelta(minutes=1)))
    try:
        messages = []
        for user in ("qa1", "nobody", "qa1"):
            at.text_input(key="login_user").input(user)
            at.text_input(key="login_password").input("not the password")
            at.button[0].click().run()
            messages.append(at.error[0].value)
        assert set(messages) == {FAILED}  # no user enumeration
        at.text_input(key="login_user").input("qa1")
        at.text_input(key="login_password").input(PASSWORD)  # even the right password waits its turn
        at.button[0].click().run()
        assert at.error[0].value.startswith("Too many failed sign-ins: wait") and TOKEN_KEY not in at.session_state
    finally:
        sign_in_throttle.clear()


def test_review_worklist_page_says_when_the_device_declares_no_triggers(dashboard: Start) -> None:
    at = _page(dashboard("audit1"), "Review worklist")
    assert "declares no review triggers" in _texts(at)
    assert at.selectbox(key="worklist_status").options == ["all", "pending", "in_review", "confirmed", "edited",
                                                            "rejected"]


def test_device_outputs_page_says_when_the_device_has_no_device_kind_sections(dashboard: Start) -> None:
    at = _page(dashboard("audit1"), "Device outputs")
    assert "has no ordered outputs" in _texts(at)
