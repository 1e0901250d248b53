"""The live what-if server (issue 17) over HTTP, with starlette's TestClient: the page and its own assets only,
every bad request a 4xx with one message (never a traceback), the edit's numbers streamed preview first, the
saved [plans.NAME] block valid when appended to the scenario, the comparison report, and the CLI's refusals
and its clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import helpers
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cjmsim import parse_scenario, simulate
from cjmsim.analyses.whatif import WhatIf
from cjmsim.cli import main
from cjmsim.presentation import format as fmt
from cjmsim.presentation.serve.app import CSP, ServeSettings, create_app, host_name
from cjmsim.presentation.serve.jobs import Jobs
from cjmsim.presentation.serve.payload import slider_max
from cjmsim.presentation.serve.server import hosts_for

HOSTILE = "<img src=x onerror=alert(1)>"


def hostile_scenario() -> dict[str, Any]:
    """The funnel scenario whose plan, campaign, segment and channel names are markup."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=1_500, weeks=8, name=f"Shop {HOSTILE}")
    d["segments"]["a"]["name"] = f"Seg {HOSTILE}"
    d["channels"]["ads"]["name"] = f"Ads {HOSTILE}"
    d["plans"]["base"]["name"] = f"Base {HOSTILE}"
    d["plans"]["base"]["campaigns"][0]["name"] = f"Camp {HOSTILE}"
    d["plans"]["more"] = {
        "name": "More </script><script>alert(2)</script>",
        "campaigns": [{**c, "weekly": (c.get("weekly") or 1000.0) * 2} for c in d["plans"]["base"]["campaigns"]],
    }
    return d


@pytest.fixture(scope="module")
def client():
    sc = parse_scenario(hostile_scenario())
    whatif = WhatIf(sc, agents=1_500, reps=2, preview_agents=500, seed=3)
    app = create_app(ServeSettings(whatif, "shop.toml", "base", "more"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def _post(client: TestClient, path: str, body: Any, **kw: Any):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"}, **kw)


def _lines(res) -> list[dict[str, Any]]:
    return [json.loads(line) for line in res.text.splitlines() if line.strip()]


def test_the_page_and_its_own_assets_only(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "default-src 'none'" in CSP and "script-src 'self'" in CSP and "connect-src 'self'" in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.text
    assert HOSTILE not in html and "Shop &lt;img src=x onerror=alert(1)&gt;" in html  # escaped by jinja2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "nothing from another host"
    js = client.get("/static/serve.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in js.text and "http://" not in js.text.replace("http://www.w3.org/2000/svg", "")
    assert client.get("/static/serve.css").status_code == 200
    for path in ("/static/../app.py", "/static/app.py", "/static/%2e%2e%2fapp.py", "/etc/passwd", "/api/nothing"):
        res = client.get(path)
        assert res.status_code == 404 and "Traceback" not in res.text, path


def test_the_state_lists_every_plans_campaigns_as_controls(client) -> None:
    state = client.get("/api/state").json()
    assert state["reference"] == "base" and state["plan"] == "more"
    assert [z["name"] for z in state["sizes"]] == ["preview", "full"]
    base = next(p for p in state["plans"] if p["id"] == "base")
    assert base["name"] == f"Base {HOSTILE}"  # the text as written: the page places it as text
    camps = base["campaigns"]
    assert camps[0]["name"] == f"Camp {HOSTILE}" and camps[0]["channel_name"] == f"Ads {HOSTILE}"
    assert all(c["editable"] and 0 < c["weekly"] <= c["max"] <= state["limit"] for c in camps)


def test_an_edit_streams_the_preview_then_the_full_size(client) -> None:
    res = _post(client, "/api/simulate", {"plan": "more", "reference": "base", "budgets": {"1": 0}, "client": "t1"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("application/x-ndjson")
    got = _lines(res)
    assert [p["stage"] for p in got] == ["preview", "full"]
    full = got[-1]
    assert full["size"] == {"agents": 1_500, "reps": 2, "text": "1,500 agents, 2 replications"}
    kpis = {k["metric"]: k for k in full["kpis"]}
    assert list(kpis) == ["inc_orders", "cpo", "icpo", "inc_revenue", "inc_margin", "iromi", "spend"]
    assert "including orders that would come anyway" in kpis["cpo"]["label"]
    assert kpis["inc_orders"]["edited"]["ci"].startswith("\u00b1")  # two replications: a CI
    # the numbers are the library's: simulate the edited plan as the saved block
    data = hostile_scenario()
    data["plans"]["edit"] = {"campaigns": [dict(c) for c in data["plans"]["more"]["campaigns"]]}
    data["plans"]["edit"]["campaigns"][0]["weekly"] = 0.0
    run = simulate(parse_scenario(data), ["base", "edit"], agents=1_500, reps=2, seed=3, reference="base")
    tot = run.totals()
    assert kpis["inc_orders"]["edited"]["value"] == fmt.fixed(tot.loc["edit", "inc_orders"], "n")
    assert kpis["inc_orders"]["reference"]["raw"] == tot.loc["base", "inc_orders"]
    assert kpis["spend"]["edited"]["raw"] == tot.loc["edit", "spend"]
    # the same edit again: the full size's records are at hand, so no preview
    again = _lines(
        _post(client, "/api/simulate", {"plan": "more", "reference": "base", "budgets": {"1": 0}, "client": "t1"})
    )
    assert [p["stage"] for p in again] == ["full"] and again[0]["kpis"] == full["kpis"]


def test_one_replication_claims_nothing() -> None:
    sc = parse_scenario(hostile_scenario())
    app = create_app(ServeSettings(WhatIf(sc, agents=800, reps=1, seed=3), "shop.toml", "base", "more"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        got = _lines(_post(c, "/api/simulate", {"plan": "more", "reference": "base"}))
    assert [p["stage"] for p in got] == ["full"]
    p = got[0]
    assert all(k["diff"]["state"] == "" and k["diff"]["ci"] == "" for k in p["kpis"])
    assert all(k["said"] == "one replication: no confidence interval, no claim" for k in p["kpis"])
    assert "no claim" in p["headline"] and any("One replication" in n for n in p["notes"])


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        ({"plan": "more", "reference": "base", "budgets": {"99": 1}}, 422, "plan 'more' has no campaign 99"),
        ({"plan": "more", "reference": "base", "budgets": {"1": -5}}, 422, "-5.0 is out of range"),
        ({"plan": "more", "reference": "base", "budgets": {"1": 1e300}}, 422, "out of range"),
        ({"plan": "nope", "reference": "base"}, 422, "plan 'nope': no such plan"),
        ({"plan": "more", "reference": "bse"}, 422, "reference 'bse': no such plan (did you mean 'base'?)"),
        ({"plan": "more", "reference": "base", "budgets": {"x": 1}}, 422, "budgets.x"),
        ({"plan": "more", "reference": "base", "budgets": {"1": "lots"}}, 422, "budgets.1"),
        ({"plan": "more", "reference": "base", "budget": {}}, 422, "unknown key 'budget' (did you mean 'budgets'?)"),
        ({"plan": "more"}, 422, "reference: required key is missing"),
        ({"plan": "more", "reference": "base", "client": "<x>"}, 422, "client"),
        ([1, 2], 422, "must be a JSON object"),
    ],
)
def test_a_bad_edit_answers_422_with_one_message(client, body: Any, status: int, said: str) -> None:
    res = _post(client, "/api/simulate", body)
    assert res.status_code == status, res.text
    error = res.json()["error"]
    assert said in error and "Traceback" not in error


def test_bodies_that_are_not_json_are_refused(client) -> None:
    raw = {"content-type": "application/json"}
    assert client.post("/api/simulate", content=b"{nope", headers=raw).status_code == 422
    nan = b'{"plan": "more", "reference": "base", "budgets": {"1": NaN}}'
    res = client.post("/api/simulate", content=nan, headers=raw)
    assert res.status_code == 422 and "NaN is not a number JSON allows" in res.json()["error"]
    res = client.post("/api/simulate", content=b"{}", headers={"content-type": "text/plain"})
    assert res.status_code == 415 and "application/json" in res.json()["error"]
    big = json.dumps({"plan": "more", "reference": "base", "budgets": {str(i): 1 for i in range(40_000)}})
    assert client.post("/api/simulate", content=big, headers=raw).status_code == 413
    assert client.get("/api/simulate").status_code == 405


def test_a_foreign_host_name_is_refused(client) -> None:
    """A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) cannot use the API."""
    for host in ("evil.example:8000", "evil.example", "127.0.0.1.evil.example", "[::2]:8000", ""):
        res = client.get("/api/state", headers={"host": host})
        assert res.status_code == 400 and "answers to" in res.json()["error"], host
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"):
        assert client.get("/api/state", headers={"host": host}).status_code == 200, host
    assert [host_name(h) for h in ("a:1", "[::1]:80", "[::1]", "::1", "b")] == ["a", "::1", "::1", "::1", "b"]
    assert hosts_for("0.0.0.0") == ("*",) and "10.0.0.5" in hosts_for("10.0.0.5")


def test_slider_tops_are_round_and_reach_the_largest_campaign() -> None:
    assert slider_max(23_500, 350_000, 1e9) == 500_000  # any campaign can rise to the largest one's level
    assert slider_max(350_000, 350_000, 1e9) == 2_000_000  # at least four times its own
    assert slider_max(0, 0, 1e9) == 1_000 and slider_max(5e8, 0, 1e9) == 1e9  # never past the limit


def test_the_saved_block_appends_to_the_scenario_and_runs_to_the_numbers_shown(client) -> None:
    body = {"plan": "more", "reference": "base", "budgets": {"2": 12_345.5}, "name": "more_b", "title": HOSTILE}
    res = _post(client, "/api/plan", body)
    assert res.status_code == 200, res.text
    assert res.headers["content-disposition"] == 'attachment; filename="more_b.toml"'
    text = res.text
    assert "cjmsim run shop.toml --plan base --plan more_b --reference base --agents 1500 --reps 2 --seed 3" in text
    data = hostile_scenario()
    data["plans"].update(tomllib.loads(text)["plans"])
    sc = parse_scenario(data, internal_plans=False)  # as a scenario file: it parses and validates
    assert sc.plans["more_b"].name == HOSTILE and sc.plans["more_b"].campaigns[1].weekly == 12_345.5
    shown = _lines(_post(client, "/api/simulate", {k: v for k, v in body.items() if k not in ("name", "title")}))
    run = simulate(sc, ["base", "more_b"], agents=1_500, reps=2, seed=3, reference="base")
    orders = next(k for k in shown[-1]["kpis"] if k["metric"] == "inc_orders")["edited"]["raw"]
    assert orders == run.totals().loc["more_b", "inc_orders"]
    for name, said in (("base", "already has a plan 'base'"), ("a b", "cannot be a plan id")):
        res = _post(client, "/api/plan", {**body, "name": name})
        assert res.status_code == 422 and said in res.json()["error"]


def test_the_report_of_the_comparison_is_the_run_report_with_every_name_escaped(client) -> None:
    body = {"plan": "more", "reference": "base", "budgets": {"1": 500.0}, "name": "mine", "title": HOSTILE}
    res = _post(client, "/api/report", body)
    assert res.status_code == 200 and res.headers["content-disposition"] == 'attachment; filename="whatif-mine.html"'
    html = res.text
    assert "run report" in html and "<script" not in html.lower() and HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<img") >= 6  # the run report's charts, embedded


class _Held:
    """The app's worker held by a job that waits for :meth:`release`, so the test decides what is queued."""

    def __init__(self, client: TestClient) -> None:
        self.jobs = client.app.state.jobs  # type: ignore[attr-defined]
        _post(client, "/api/simulate", {"plan": "more", "reference": "base", "client": "warm"})  # after start-up
        assert self.jobs.waiting == 0
        self.gate = threading.Event()
        client.portal.start_task_soon(self.jobs.run, self.gate.wait)  # type: ignore[union-attr]
        self.until(1)

    def until(self, waiting: int) -> None:
        for _ in range(2_000):  # synchronisation, not timing: the requests' threads reach the queue
            if self.jobs.waiting >= waiting:
                return
            time.sleep(0.005)
        raise AssertionError(f"never {waiting} waiting")

    def release(self) -> None:
        self.gate.set()


def _in_thread(client: TestClient, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(_post(client, "/api/simulate", body)))
    t.start()
    return t, out


def test_a_newer_edit_of_the_same_page_makes_the_older_obsolete() -> None:
    sc = parse_scenario(hostile_scenario())
    app = create_app(
        ServeSettings(WhatIf(sc, agents=800, reps=2, preview_agents=300, seed=3), "s.toml", "base", "more")
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        held = _Held(c)
        edit = {"plan": "more", "reference": "base", "client": "page1"}
        a, got_a = _in_thread(c, {**edit, "budgets": {"1": 10.0}})
        held.until(2)  # the older edit's preview waits behind the held worker
        b, got_b = _in_thread(c, {**edit, "budgets": {"1": 20.0}})
        held.until(3)
        other, got_o = _in_thread(c, {**edit, "budgets": {"1": 30.0}, "client": "page2"})  # another page
        held.until(4)
        held.release()
        for t in (a, b, other):
            t.join(60)
    assert [p["stage"] for p in _lines(got_a[0])] == ["obsolete"]
    assert [p["stage"] for p in _lines(got_b[0])] == ["preview", "full"]
    assert [p["stage"] for p in _lines(got_o[0])] == ["preview", "full"]


def test_simulations_waiting_are_bounded() -> None:
    sc = parse_scenario(hostile_scenario())
    settings = ServeSettings(WhatIf(sc, agents=800, reps=2, preview_agents=300, seed=3), "s.toml", "base", "more")
    with TestClient(create_app(settings, pending=2), base_url="http://127.0.0.1:8000") as c:
        held = _Held(c)
        a, got_a = _in_thread(c, {"plan": "more", "reference": "base", "client": "p1"})
        held.until(2)
        res = _post(c, "/api/simulate", {"plan": "more", "reference": "base", "client": "p2"})
        assert res.status_code == 503 and res.json()["error"].startswith("busy: 2 simulations are waiting")
        held.release()
        a.join(60)
    assert [p["stage"] for p in _lines(got_a[0])] == ["full"]  # the unedited plan: its records are at hand


def test_generations_make_older_edits_obsolete() -> None:
    jobs = Jobs(pending=2)
    g1 = jobs.begin("a")
    old = jobs.obsolete("a", g1)
    assert not old()
    jobs.begin("b")  # another page does not touch this one's
    assert not old()
    jobs.begin("a")
    assert old()
    jobs.close()


# --------------------------------------------------------------------------------------------
# the command line


def _toml(tmp: Path, data: dict[str, Any]) -> Path:
    path = tmp / "shop.toml"
    path.write_text(helpers.to_toml(data) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["missing.toml"], "missing.toml"),
        (["SHOP", "--reference", "nope"], "--reference 'nope' is not a plan of this run"),
        (["SHOP", "--plan", "mroe"], "--plan 'mroe': no such plan (did you mean 'more'?)"),
        (["SHOP", "--host", "no.such.host.invalid"], "--host 'no.such.host.invalid': not an address"),
    ],
)
def test_bad_command_lines_exit_2_with_one_message(tmp_path: Path, args: list[str], said: str) -> None:
    path = _toml(tmp_path, hostile_scenario())
    res = CliRunner().invoke(main, ["serve", *[str(path) if a == "SHOP" else a for a in args]])
    assert res.exit_code == 2, res.output
    assert said in res.output and "Traceback" not in res.output


def test_a_bad_scenario_exits_2(tmp_path: Path) -> None:
    data = hostile_scenario()
    data["segments"]["a"]["share"] = 2.0
    res = CliRunner().invoke(main, ["serve", str(_toml(tmp_path, data))])
    assert res.exit_code == 2 and "share" in res.output and "Traceback" not in res.output


def test_a_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = CliRunner().invoke(main, ["serve", str(_toml(tmp_path, hostile_scenario())), "--port", str(port)])
    assert res.exit_code == 2, res.output
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}: it is in use" in res.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    path = _toml(tmp_path, hostile_scenario())
    code = "from cjmsim.cli import main; main()"
    cmd = [sys.executable, "-c", code, "serve", str(path), "--port", "0", "--agents", "800", "--reps", "2"]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        for _ in range(100):  # the first answer; the worker prepares the reference meanwhile
            try:
                with urllib.request.urlopen(url.group() + "api/state", timeout=5) as res:
                    if res.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        proc.send_signal(sig)
        err = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "cjmsim serve: stopped" in err
