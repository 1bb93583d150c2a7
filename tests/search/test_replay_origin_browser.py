"""In real Chromium against a real Airflow API server: with ``replay_origin`` set, the
replay of a capture opens on that origin, shows the page from its WACZ, and the archived
page's scripts can neither read the Airflow login nor reach Airflow's API."""

from __future__ import annotations

import pytest

from tests.dags.test_airflow_e2e import CHROMIUM_ARGS, login
from tests.search.test_replay import TEXT, _frame_with, captured  # noqa: F401 (fixture)
from tests.support.airflow_service import free_port, running_airflow


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_replay_runs_on_its_own_origin_away_from_the_airflow_login(captured, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    rt, capture_id, _ = captured
    port = free_port()
    replay = f"http://localhost:{port}"
    extra = {"WITNESSBOX_HOME": str(rt.settings.home), "WITNESSBOX_REPLAY_ORIGIN": replay}
    with running_airflow(tmp_path / "airflow", extra=extra, components=["api-server"],
                         port=port) as af, sync_playwright() as pw:  # fmt: skip
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = login(context, af.url, "analyst", af.passwords["analyst"], "/witnessbox/captures")
        assert any(c["name"] == "_token" for c in context.cookies(af.url))
        page.goto(f"{af.url}/witnessbox/replay/{capture_id}")
        assert page.url == f"{replay}/witnessbox/replay/{capture_id}", page.url
        frame = _frame_with(page, TEXT, timeout=90)
        assert frame is not None, [f.url for f in page.frames]
        assert frame.url.startswith(f"{replay}/"), frame.url
        # what an archived script could try, from the replayed page's own frame
        assert "_token" not in frame.evaluate("() => document.cookie")
        assert "witnessbox_replay" not in frame.evaluate("() => document.cookie")  # HttpOnly
        fetch = "(p) => fetch(p, {credentials: 'include'}).then(r => r.status)"
        # inside the replay the archive answers (wombat rewrites the URL): not Airflow
        assert frame.evaluate(fetch, "/api/v2/dags") == 404
        # a script that escapes the rewriting reaches this origin, which serves only replays
        app = next(f for f in page.frames if "/replay-assets/replay/?" in f.url)
        for where in (page, app):
            for path in ("/api/v2/dags", "/witnessbox/api/captures", "/witnessbox/watchlist"):
                assert where.evaluate(fetch, path) == 403, (where.url, path)
        # the Airflow origin keeps working for the viewer
        page.goto(f"{af.url}/witnessbox/captures")
        assert capture_id in page.content()
        browser.close()
