"""The benchmarks' own code keeps working (tiny sizes; the numbers themselves live in bench/)."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import numpy as np

from bench import floor_app, scenarios
from bench.oo_bench import simulator, stationary
from bench.oo_bench.baselines import LinUCB, Uniform, VowpalSquareCB
from bench.scenario_moments import MOMENTS
from ml.experiments.featurize import DIMENSION
from ml.experiments.product import PRODUCT_POLICY
from ml.features.context import assemble_context
from ml.features.state import FeatureState
from tests.conftest import empty_postgres_url

QUERY = "SELECT user_id, snapshot FROM floor_log"


def test_stationary_track_runs_every_policy_and_the_oracle_bounds_regret():
    world = stationary.make_world(seed=3, rounds=300)
    for policy in (
        stationary.OoPolicy(3, noise=0.05),
        LinUCB(DIMENSION),
        VowpalSquareCB(seed=3),
        Uniform(np.random.default_rng(3)),
    ):
        regret, speed = stationary.run(policy, world)
        assert 0.0 <= regret <= 1.0
        assert speed > 0


def test_stationary_report_calls_a_reference_beaten_only_when_the_whole_interval_is_a_reduction(capsys):
    seeds = range(20)
    results: dict[str, list[tuple[float, float]]] = {
        "oO lin-ts": [(0.0111, 9000.0) for _ in seeds],
        "numpy LinUCB": [(0.011 + 0.004 * (s % 2) - 0.002 * (s % 3), 8000.0) for s in seeds],  # a near tie
        "VW squarecb": [(0.100, 1700.0) for _ in seeds],
        "VW squarecb --elim": [(0.030, 1700.0) for _ in seeds],
        "uniform": [(0.300, 1e5) for _ in seeds],
    }
    stationary.report(results)
    lines = capsys.readouterr().out.splitlines()
    verdicts = {name: next(line for line in lines if f"vs {name} " in line) for name in results if name != "oO lin-ts"}
    assert verdicts["numpy LinUCB"].endswith("does not beat")
    assert verdicts["VW squarecb --elim"].endswith(": beats")
    stripped = [line.strip() for line in lines]
    assert "target ≥ 65% below the best VW (VW squarecb --elim): 63% NOT met" in stripped
    assert "target ≥ 75% below VW SquareCB: 89% met" in stripped


def test_simulator_track_is_deterministic_per_seed_and_counts_tips():
    first = simulator.simulate(5, days=3, chooser="oo")
    assert first == simulator.simulate(5, days=3, chooser="oo")
    utility, shown, days = simulator.simulate(5, days=3, chooser="schedule3")
    assert days == 3
    assert shown <= 3 * 3
    assert -1.0 * shown <= utility <= 1.0 * shown


def test_the_simulators_budget_counts_an_hour_with_nothing_proposed_as_no_chance_of_a_tip():
    posterior = PRODUCT_POLICY.posterior(PRODUCT_POLICY.initial_state())
    ctx = assemble_context("sim", FeatureState(), simulator.START)
    assert simulator.decide_oo(posterior, np.random.default_rng(0), ctx, []) == (None, 0.0)


async def test_the_request_benchmarks_floor_app_logs_one_row_per_authenticated_request(
    backend, tmp_path, monkeypatch, request
):
    monkeypatch.setenv("FLOOR_DATA_DIR", str(tmp_path))
    url = None
    if backend == "postgres":
        url = await empty_postgres_url(request.getfixturevalue("postgres_cluster"))
        monkeypatch.setenv("FLOOR_DATABASE_URL", url)
    app = floor_app.app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            ok = await client.post("/v1/recommend", headers={"Authorization": "Bearer floor_3"})
            refused = await client.post("/v1/recommend", headers={"Authorization": "Bearer floor_x"})
    assert ok.status_code == 200
    assert ok.json()["tip"] is None
    assert refused.status_code == 401
    if url is None:
        with sqlite3.connect(tmp_path / "floor.sqlite3") as database:
            rows = [(user_id, json.loads(snapshot)) for user_id, snapshot in database.execute(QUERY)]
    else:
        connection = await asyncpg.connect(url)
        try:
            rows = [(user_id, json.loads(snapshot)) for user_id, snapshot in await connection.fetch(QUERY)]
        finally:
            await connection.close()
    assert rows == [("usr_floor3", {"state": {"energy": 3, "tasks": 3}})]


def test_scenario_labels_name_what_oo_offers_and_a_silent_stub_scores_low():
    scenes = [scenarios.stage(moment) for moment in MOMENTS]
    assert len(scenes) >= 24
    assert {s.moment.name: scenarios.label_problems(s) for s in scenes if scenarios.label_problems(s)} == {}
    report = next(m for m in MOMENTS if m.name == "morning-energy-5-report-due-tomorrow")
    renamed = scenarios.stage(dataclasses.replace(report, good="todo:report", never="task:sock"))
    problems = scenarios.label_problems(renamed)
    assert problems[:2] == [
        "todo:report names nothing oO has for this person",
        "task:sock names nothing oO has for this person",
    ]
    assert problems[2].startswith("no good option is on offer")
    good, _ = scenarios.mean_scores(scenes, lambda scene: np.eye(len(scene.options))[0])  # always silent
    assert good < 0.5


def test_the_soak_benchmark_reports_every_field_and_no_server_error_on_a_tiny_run():
    command = [sys.executable, "-m", "bench.soak", "--backend", "sqlite", "--minutes", "0.1", "--rate", "20"]
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert re.search(r"^bare FastAPI at 20 req/s for 6 s: p99 [\d.]+ ms$", out, re.M), out
    for field in ("warm-up", "sent", "status:", "server RSS:", "  every tenth of the run", "DELETE /v1/me"):
        assert f"[sqlite] {field}" in out, field
    for route in ("recommend", "feedback", "events", "overall"):
        assert re.search(rf"^\[sqlite\]   {route} +[\d,]+ +[\d.]+ +[\d.]+ +[\d.]+$", out, re.M), route
    assert out.count("[sqlite] oo commands at") == 2
    assert "[sqlite] 5xx: none;" in out
    assert "; 0 of their events left" in out
    assert re.search(r"^\[sqlite\] oO's p99 [\d.]+ ms is [\d.]+× the bare endpoint's", out, re.M)
    for target in ("0 5xx", "p99 ≤ 25 ms", "RSS growth ≤ 10%"):
        assert re.search(rf"^\[sqlite\] target {re.escape(target)}: .* (met|NOT met)$", out, re.M), target


def test_the_todoist_benchmark_renders_every_title_from_memory_on_a_tiny_run():
    command = [sys.executable, "-m", "bench.todoist_titles", "--backend", "sqlite", "--seconds", "0.5"]
    command += ["--latency-requests", "50", "--rate", "20", "--askers", "4"]
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    for half in ("own tasks", "Todoist"):
        assert re.search(rf"^  {half} +\d+ req/s  at 20 rps p50 +[\d.]+ ms  p99 +[\d.]+ ms  \(\d+% ", out, re.M), half
    assert re.search(r"^  Todoist +.*\(([1-9]\d?|100)% of tips quote a Todoist task\)$", out, re.M), out
    assert "calls to Todoist for a title while measured: 0 (target 0)" in out


def test_the_todoist_sync_benchmark_reads_every_page_both_ways_and_times_each_refresh():
    command = [sys.executable, "-m", "bench.todoist_sync", "--backend", "sqlite", "--tasks", "250", "--rounds", "1"]
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "sqlite: a 250-task account, 2 pages of 200" in out
    assert re.search(r"^  read every page: SDK +[\d.]+ ms, raw httpx +[\d.]+ ms: [\d.]+× .* (met|NOT met)$", out, re.M)
    for kind, requests in (("full", 3), ("nothing changed", 3), ("one task changed", 3), ("webhook hint", 1)):
        assert re.search(rf"^  oO refresh, {kind} +[\d.]+ ms +{requests} requests to Todoist$", out, re.M), kind


def test_the_relay_benchmark_drains_the_outbox_and_reports_both_targets_on_a_tiny_run():
    command = [sys.executable, "-m", "bench.relay", "--events", "1000", "--backend", "sqlite"]
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert re.search(
        r"^sqlite +relay +[\d,]+ events/s \| raw publish_async +[\d,]+/s \| ratio relay/raw = [\d.]+$", out, re.M
    )
    assert re.search(
        r"^sqlite +target ≥ 50% of raw: (met|NOT met); target ≥ 10,000 events/s: (met|NOT met)$", out, re.M
    )


def test_the_lag_benchmark_sees_every_event_arrive_once_on_a_tiny_run():
    command = [sys.executable, "-m", "bench.lag", "--rate", "500", "--seconds", "1"]
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "every event arrived exactly once: 500 relayed, 500 raw" in out
    for path in ("raw publish → consumer", "commit → relay → consumer"):
        assert re.search(rf"^{path} +p50 +[\d.]+ ms +p99 +[\d.]+ ms +max +[\d.]+ ms$", out, re.M), path
    assert re.search(r"^target p99 ≤ 1 s at 500 events/s: [\d.]+ s (met|NOT met)$", out, re.M)


def test_the_processes_benchmark_measures_one_and_two_apis_and_their_floors_on_a_tiny_run():
    command = [
        sys.executable,
        "-m",
        "bench.processes",
        "--seconds",
        "0.5",
        "--latency-requests",
        "50",
        "--users",
        "200",
    ]
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    for count in (1, 2):
        assert re.search(rf"^floor  × {count}: +[\d,]+ asks/s \| p50 +[\d.]+ ms  p99 +[\d.]+ ms$", out, re.M), count
        assert re.search(
            rf"^oO     × {count}: +[\d,]+ asks/s \([\d.]+ of the floor\) \| +[\d,]+ events/s \| p50 .* 0 lost$",
            out,
            re.M,
        ), count
    assert re.search(r"^two processes over one: asks [\d.]+×, ingest [\d.]+×; the floor [\d.]+×$", out, re.M)
    assert len(re.findall(r"^target .*: .* (met|NOT met)$", out, re.M)) == 3
