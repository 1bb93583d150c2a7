"""The Audit page (archivists): audits with every failed object named, the ledger check,
the unsealed backlog, failed and partial captures, and a button that runs a full audit.

The button (admins only) triggers ``witnessbox_fixity_audit`` with ``{"sample": 0}``
through Airflow's own REST API with the caller's token, so Airflow's permissions apply.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from preservation.queries import custody_summary, list_audits
from witnessbox_airflow.ui import data
from witnessbox_airflow.ui.auth import User, check_csrf, current_user, require
from witnessbox_airflow.ui.captures import airflow_links
from witnessbox_airflow.ui.render import e, link, page, post_button, q, rows, status, url, when

router = APIRouter()
AUDIT_DAG = "witnessbox_fixity_audit"
SHOWN_PROBLEMS = 10


@router.get("/api/audit")
def api_audit(user: User = Depends(current_user)) -> JSONResponse:
    return JSONResponse(list_audits(data.runtime().catalogue, limit=100))


def custody() -> dict[str, Any]:
    """The custody summary plus how many interrupted captures wait in staging."""
    from preservation.staging import sweep

    rt = data.runtime()
    staged = len(sweep(rt, remove_empty=False))
    return {**custody_summary(rt.catalogue), "interrupted_in_staging": staged}


@router.get("/api/custody")
def api_custody(user: User = Depends(current_user)) -> JSONResponse:
    return JSONResponse(custody())


def _problems(details: list[str]) -> str:
    shown = "<br>".join(f"<code>{e(d)}</code>" for d in details[:SHOWN_PROBLEMS])
    if len(details) > SHOWN_PROBLEMS:
        rest = "<br>".join(f"<code>{e(d)}</code>" for d in details[SHOWN_PROBLEMS:])
        shown += f"<details><summary>{len(details) - SHOWN_PROBLEMS} more</summary>{rest}</details>"
    return shown


@router.get("/audit")
def audit_page(request: Request, user: User = Depends(current_user)) -> Any:
    catalogue = data.runtime().catalogue
    summary = custody()
    audits = [a for a in list_audits(catalogue, limit=40) if a["scope"] != "ledger"][:20]
    with catalogue.session() as session:
        ledger = data.last_ledger_check(session)
        backlog = data.unsealed(session)
        troubled = data.troubled(session)
    done = request.query_params.get("done", "")[:300]
    notice = f'<p class="notice">{e(done)}</p>' if done else ""
    facts = (
        f"<p>{e(summary['captures'])} captures: {e(summary['sealed'])} sealed with a trusted "
        f"timestamp, {e(summary['unsealed'])} waiting for the next seal. Custody ledger: "
        f"{e(summary['ledger_head'])} entries, last {e(summary['ledger_last_event'] or '-')} "
        f"at {when(summary['ledger_last_at'])}. Interrupted captures in staging: "
        f"{e(summary['interrupted_in_staging'])} (<code>witnessbox staging list</code>).</p>"
    )
    if user.can("admin"):
        action = post_button(url("audit/run"), "Run a full audit now", user.csrf)
    else:
        action = '<p class="muted">Admins can start a full audit here.</p>'
    audit_rows = [
        [
            when(a["finished_at"]),
            e(a["scope"]),
            e(a["checked"]),
            f'<span class="{"failed" if a["failed"] or a["details"] else "complete"}">'
            f"{e(a['failed'])}</span>",
            _problems(a["details"]) or "-",
        ]
        for a in audits
    ]
    if ledger is None:
        ledger_text = '<p class="muted">No ledger check yet (the audit DAG runs one).</p>'
    elif ledger.details:
        ledger_text = (
            f'<p class="failed">Ledger check of {when(ledger.finished_at)} FAILED: '
            f"{len(ledger.details)} problem(s)</p>{_problems(list(ledger.details))}"
        )
    else:
        ledger_text = (
            f'<p class="complete">Ledger check of {when(ledger.finished_at)}: '
            f"{e(ledger.checked)} entries, chain intact.</p>"
        )
    backlog_rows = [
        [
            link(url(f"captures/{c.id}"), c.id),
            when(c.finished_at),
            f"<code>{e(c.source_url)}</code>",
        ]
        for c in backlog
    ]
    trouble_rows = [
        [
            link(url(f"captures/{c.id}"), c.id),
            when(c.started_at),
            status(c.status),
            "<br>".join(e(r) for r in (c.reasons or [])[:3]),
            link(url("captures", source=c.source_id), c.source_id),
            airflow_links(c.run_context or {}),
        ]
        for c in troubled
    ]
    body = (
        notice
        + facts
        + action
        + "<h2>Fixity audits</h2>"
        + rows(
            audit_rows,
            ["Finished (UTC)", "Scope", "Captures checked", "Failed", "Problems"],
            "audits",
        )
        + "<h2>Custody ledger</h2>"
        + ledger_text
        + f"<h2>Unsealed backlog ({e(summary['unsealed'])})</h2>"
        + rows(backlog_rows, ["Capture", "Finished (UTC)", "URL"], "unsealed")
        + "<h2>Failed and partial captures</h2>"
        + rows(
            trouble_rows,
            ["Capture", "Started (UTC)", "Status", "Why", "Source", "Airflow"],
            "troubled",
        )
        + "<p>Fixity audits re-read every blob and check digests, signatures and timestamps "
        "(<code>witnessbox verify --all</code>, or the <code>witnessbox_fixity_audit</code> DAG)."
        "</p>"
    )
    return page("Audit", body, user)


def trigger_full_audit(user: User, base_url: str) -> dict[str, Any]:
    """A run of the audit DAG through Airflow's REST API, as the caller."""
    import httpx

    response = httpx.post(
        f"{base_url.rstrip('/')}/api/v2/dags/{AUDIT_DAG}/dagRuns",
        json={
            "logical_date": None,
            "conf": {"sample": 0},
            "note": f"full audit requested by {user.name} on the Audit page",
        },
        headers={"Authorization": f"Bearer {user.token}"},
        timeout=30,
    )
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else ""
        raise RuntimeError(f"Airflow refused the audit run ({response.status_code}): {detail}")
    return response.json()


@router.post("/audit/run")
def audit_run(request: Request, user: User = Depends(current_user), csrf: str = Form("")) -> Any:
    from airflow.configuration import conf

    check_csrf(user, csrf)
    require(user, "admin", "start a full audit")
    base = conf.get("api", "base_url", fallback="") or str(request.base_url).split("/witnessbox")[0]
    try:
        run = trigger_full_audit(user, base)
    except (RuntimeError, OSError) as exc:
        return page("Audit", f'<p class="error">error: {e(exc)}</p>', user, status_code=502)
    run_id = run.get("dag_run_id", "")
    done = f"full audit queued as run {run_id}"
    return RedirectResponse(url("audit", done=done) + f"#{q(run_id)}", status_code=303)
