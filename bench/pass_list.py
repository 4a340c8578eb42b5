"""Measure the dashboard's pass list on 100,000 passes: keyset pages against OFFSET."""

import argparse
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import insert, select, text, update

from app.dashboard import pass_queries
from app.demo import demo_design
from app.devchain import DevelopmentChain, make_development_chain
from app.extensions import db
from app.models import Device, Pass, Registration, UpdateCounter, utcnow
from app.passes import queries, service
from bench.bench_app import make_app, make_pass_type

PASS_TYPE_ID = "pass.bench.passline.tickets"
TEAM_ID = "BENCHTEAM1"
EMAIL, PASSWORD = "bench@passline.bench", "bench-password"
ROUNDS = 5
CHUNK = 10_000
# One pass in VOIDED_EVERY is voided, one in REGISTERED_EVERY is on a device.
VOIDED_EVERY = 10
REGISTERED_EVERY = 50
# How many of the oldest passes lie beyond the deep page's cursor.
DEEP_FROM_END = 100
SERIAL_PREFIX = "abc"
ROW = re.compile(r'<a href="/dashboard/passes/(\d+)">')
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Fill one merchant with passes, then time pages of /dashboard/passes "
            "through the Flask test client with a signed-in user, and the deep "
            "page's query with a keyset cursor against OFFSET."
        )
    )
    parser.add_argument("--passes", type=int, help="passes to insert (100000)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 5000 passes unless --passes"
    )
    parser.add_argument(
        "--database-url",
        help="an empty database to fill instead of a fresh SQLite file "
        "(PostgreSQL, say); the migrations create the tables",
    )
    args = parser.parse_args()
    if args.passes is None:
        args.passes = 5_000 if args.quick else 100_000
    if args.passes < DEEP_FROM_END + pass_queries.PAGE_SIZE:
        parser.error(f"--passes must be at least {DEEP_FROM_END + 50}")
    return args


def insert_passes(count: int, chain: DevelopmentChain | None = None) -> list[int]:
    """Bulk insert the passes over two templates; return their ids, oldest first."""
    pass_type = make_pass_type(chain or make_development_chain(PASS_TYPE_ID, TEAM_ID))
    templates = [
        service.create_template(pass_type, name, demo_design())
        for name in ("Concert", "Festival")
    ]
    rng = random.Random(7)
    serials = set()
    while len(serials) < count:
        serials.add(f"{rng.getrandbits(80):020x}")
    start = utcnow().replace(microsecond=0) - timedelta(seconds=count)

    ordered = sorted(serials, key=lambda _: rng.random())
    for first in range(0, count, CHUNK):
        db.session.execute(
            insert(Pass),
            [
                {
                    "pass_type_id": pass_type.id,
                    "template_id": templates[number % 2].id,
                    "serial_number": ordered[number],
                    "authentication_token": f"{rng.getrandbits(128):032x}",
                    "data": {
                        "holder": f"Guest {number}",
                        "seat": f"{chr(65 + number % 26)} {number % 40}",
                        "gate": str(number % 12),
                    },
                    "is_voided": number % VOIDED_EVERY == 0,
                    "update_tag": number + 1,
                    "updated_at": start + timedelta(seconds=number),
                }
                for number in range(first, min(first + CHUNK, count))
            ],
        )
    db.session.execute(update(UpdateCounter).values(value=count))
    ids = list(db.session.scalars(select(Pass.id).order_by(Pass.id)))
    register_some(ids[::REGISTERED_EVERY], rng)
    db.session.commit()
    # Fresh statistics, as a database that has lived with its rows would have.
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return ids


def register_some(pass_ids: list[int], rng: random.Random) -> None:
    """Register one device for each of the passes."""
    devices = db.session.scalars(
        insert(Device).returning(Device.id, sort_by_parameter_order=True),
        [{"library_identifier": f"{rng.getrandbits(128):032x}"} for _ in pass_ids],
    ).all()
    db.session.execute(
        insert(Registration),
        [
            {
                "device_id": device_id,
                "pass_id": pass_id,
                "push_token": f"{rng.getrandbits(256):064x}",
            }
            for device_id, pass_id in zip(devices, pass_ids, strict=True)
        ],
    )


def signed_in_client(app: Flask) -> FlaskClient:
    """Return a test client signed in through the real form, CSRF included."""
    client = app.test_client()
    token = CSRF.search(client.get("/account/login").get_data(as_text=True))
    response = client.post(
        "/account/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed with {response.status_code}")
    return client


def page_request(client: FlaskClient, url: str) -> Callable[[], int]:
    """Return a call that gets the page and answers how many passes it lists."""

    def fetch() -> int:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return len(ROW.findall(response.get_data(as_text=True)))

    return fetch


def query_run(app: Flask, query) -> Callable[[], list[int]]:
    """Return a call that runs the query in a fresh session, as a request would."""

    def run_query() -> list[int]:
        with app.app_context():
            try:
                return list(db.session.scalars(query))
            finally:
                db.session.remove()

    return run_query


def measure(
    measures: dict[str, Callable[[], object]],
) -> dict[str, tuple[float, object]]:
    """Time each call ROUNDS times after a warm-up; rounds interleave the calls."""
    results = {name: call() for name, call in measures.items()}
    times: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(ROUNDS):
        for name, call in measures.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {
        name: (statistics.median(times[name]) * 1000, results[name])
        for name in measures
    }


def run(args: argparse.Namespace) -> None:
    """Fill the database, then time the pages and the deep page's two queries."""
    with tempfile.TemporaryDirectory(prefix="passline-bench-") as name:
        settings = {}
        if args.database_url:
            settings["SQLALCHEMY_DATABASE_URI"] = args.database_url
        app = make_app(Path(name), **settings)
        with app.app_context():
            upgrade()
            start = time.perf_counter()
            ids = insert_passes(args.passes)
            setup_seconds = time.perf_counter() - start
            merchant_id = db.session.get(Pass, ids[0]).pass_type.merchant_id
            festival = db.session.get(Pass, ids[1]).template_id
            dialect = db.engine.dialect.name
            db.session.remove()

        figures = measure_all(app, ids, merchant_id, festival)
    report(args, dialect, setup_seconds, figures)


def measure_all(app: Flask, ids: list[int], merchant_id: int, festival: int) -> dict:
    """Time the four pages over HTTP and the deep page's keyset and OFFSET queries."""
    client = signed_in_client(app)
    size = pass_queries.PAGE_SIZE
    # Newest first, so the cursor near the oldest end leaves DEEP_FROM_END passes.
    cursor = ids[DEEP_FROM_END]
    pages = {
        "first page": "/dashboard/passes",
        f"deep page (after={cursor})": f"/dashboard/passes?after={cursor}",
        f"serial prefix search ({SERIAL_PREFIX!r})": (
            f"/dashboard/passes?serial={SERIAL_PREFIX}"
        ),
        "filtered page (template, not voided)": (
            f"/dashboard/passes?template={festival}&voided=no"
        ),
        "data search, 'Guest 4242' (not indexed)": (
            "/dashboard/passes?text=Guest+4242"
        ),
    }
    timed = measure({name: page_request(client, url) for name, url in pages.items()})

    with app.app_context():
        own = queries.own_pass_type_ids(merchant_id)
    base = queries.filtered_passes(own, queries.PassFilters())
    newest_first = base.with_only_columns(Pass.id).order_by(Pass.id.desc())
    timed_queries = measure(
        {
            "keyset": query_run(
                app, newest_first.where(Pass.id < cursor).limit(size + 1)
            ),
            "offset": query_run(
                app, newest_first.offset(len(ids) - DEEP_FROM_END).limit(size + 1)
            ),
        }
    )
    keyset_rows, offset_rows = timed_queries["keyset"][1], timed_queries["offset"][1]
    if keyset_rows != offset_rows or len(keyset_rows) != size + 1:
        raise SystemExit("the keyset and OFFSET queries found different passes")
    return {"pages": timed, "queries": timed_queries}


def report(
    args: argparse.Namespace, dialect: str, setup_seconds: float, figures: dict
) -> None:
    """Print the figures as a table."""
    print(
        f"pass list bench on {dialect}: {args.passes} passes of one merchant, "
        f"median of {ROUNDS} requests (passes inserted in {setup_seconds:.1f}s)"
    )
    print(f"{'GET /dashboard/passes, signed in':<48}{'ms':>9}{'rows':>6}")
    for name, (ms, rows) in figures["pages"].items():
        print(f"{name:<48}{ms:>9.1f}{rows:>6}")
    keyset_ms = figures["queries"]["keyset"][0]
    offset_ms = figures["queries"]["offset"][0]
    offset = args.passes - DEEP_FROM_END
    print(f"{'deep page query alone':<48}{'ms':>9}")
    print(f"{'keyset: id < cursor ORDER BY id DESC LIMIT 51':<48}{keyset_ms:>9.2f}")
    print(f"{f'OFFSET {offset} LIMIT 51':<48}{offset_ms:>9.2f}")
    print(f"{'ratio OFFSET / keyset':<48}{offset_ms / keyset_ms:>8.0f}x")


if __name__ == "__main__":
    run(parse_args())
