"""Measure pass-update pushes per second against the loopback APNs stand-in."""

import argparse
import secrets
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import func, insert, select

from app.demo import demo_design
from app.devchain import DevelopmentChain, make_development_chain
from app.extensions import db
from app.models import Device, PushAttempt, Registration
from app.passes import service
from app.push.service import SENT, push_pass_updates
from bench.bench_app import make_app, make_pass_type
from tests.apns_standin import APNsStandIn, loopback_tls

PASS_TYPE_ID = "pass.bench.passline.tickets"
TEAM_ID = "BENCHTEAM1"
ROUNDS = 3
# A slow or busy machine runs fewer rounds rather than past ~3 minutes.
BUDGET_SECONDS = 140
WARM_UP_PASSES = 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Register push tokens for passes and time pushing them all through "
            "push_pass_updates (queries, APNs HTTP/2, push records) and through "
            "the bare APNs client, against a TLS stand-in on 127.0.0.1."
        )
    )
    parser.add_argument(
        "--registrations", type=int, help="devices to register (default 10000)"
    )
    parser.add_argument(
        "--passes", type=int, default=100, help="passes they register for (100)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 500 registrations unless --registrations",
    )
    args = parser.parse_args()
    if args.registrations is None:
        args.registrations = 500 if args.quick else 10_000
    if args.registrations < 1 or args.passes < 1:
        parser.error("--registrations and --passes must be at least 1")
    return args


def start_standin(chain: DevelopmentChain, folder: Path) -> APNsStandIn:
    """Start the stand-in with a loopback certificate from a CA of this run."""
    tls = loopback_tls()
    (folder / "apns-ca.pem").write_bytes(tls.ca_pem)
    standin = APNsStandIn(
        tls.certificate_pem,
        tls.key_pem,
        client_ca_pem=chain.root_pem + chain.wwdr_pem,
    )
    return standin.start()


def make_push_app(folder: Path, standin: APNsStandIn) -> Flask:
    """Create an app whose pushes go to the stand-in."""
    return make_app(
        folder,
        APNS_HOST=standin.host,
        APNS_PORT=standin.port,
        APNS_CA_BUNDLE=str(folder / "apns-ca.pem"),
    )


def register_devices(pass_ids: list[int], count: int) -> list[str]:
    """Insert count devices, each registered for one pass; return their tokens."""
    tokens: set[str] = set()
    while len(tokens) < count:
        tokens.add(secrets.token_hex(32))
    ordered = sorted(tokens)

    # The tables are empty, so the ids can be chosen instead of read back.
    db.session.execute(
        insert(Device),
        [
            {"id": number, "library_identifier": secrets.token_hex(16)}
            for number in range(1, count + 1)
        ],
    )
    db.session.execute(
        insert(Registration),
        [
            {
                "device_id": number,
                "pass_id": pass_ids[number % len(pass_ids)],
                "push_token": token,
            }
            for number, token in enumerate(ordered, start=1)
        ],
    )
    db.session.commit()
    return ordered


def open_connections(port: int) -> int | None:
    """Count established TCP connections to the port (Linux /proc), or None."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"
    return sum(1 for row in table if row.split()[2:4] == [wanted, "01"])


def check_delivery(standin: APNsStandIn, tokens: list[str], what: str) -> None:
    """Exit with a message unless the stand-in got exactly one push per token."""
    try:
        standin.wait_for(len(tokens), timeout=30)
    except AssertionError as exc:
        raise SystemExit(f"{what}: {exc}") from None
    # Duplicates could still be in flight; let them land before counting.
    time.sleep(0.05)
    recorded = list(standin.requests)
    if len(recorded) != len(tokens) or {r.token for r in recorded} != set(tokens):
        raise SystemExit(
            f"{what}: the stand-in recorded {len(recorded)} requests for "
            f"{len({r.token for r in recorded})} tokens, expected {len(tokens)}"
        )


def run(args: argparse.Namespace) -> None:
    """Start the stand-in and an app, measure, then stop both and report."""
    chain = make_development_chain(PASS_TYPE_ID, TEAM_ID)
    with tempfile.TemporaryDirectory(prefix="passline-bench-") as name:
        folder = Path(name)
        with start_standin(chain, folder) as standin:
            app = make_push_app(folder, standin)
            with app.app_context():
                try:
                    figures = measure(args, chain, standin)
                finally:
                    app.extensions["passline.apns"].close()
                    db.session.remove()
    report(args, figures)


def measure(
    args: argparse.Namespace, chain: DevelopmentChain, standin: APNsStandIn
) -> dict:
    """Set up passes and registrations, then time both ways of pushing."""
    n = args.registrations
    upgrade()
    pass_type = make_pass_type(chain)
    template = service.create_template(pass_type, "Concert", demo_design())
    pass_ids = [
        service.issue_pass(
            template, {"holder": f"Guest {number}", "seat": "A1", "gate": "3"}
        ).id
        for number in range(args.passes)
    ]
    start = time.perf_counter()
    tokens = register_devices(pass_ids, n)
    setup_seconds = time.perf_counter() - start

    # Warm-up: the first push builds the client, its TLS context and connection.
    warm_up = push_pass_updates(pass_ids[:WARM_UP_PASSES]).total()
    client = current_app.extensions["passline.apns"].get(pass_type)
    client.send_notification_batch(tokens[:100], PASS_TYPE_ID)
    standin.clear()

    # Rounds alternate the two measures so drift hits both alike.
    end_to_end, bare, connections = [], [], []
    started = time.perf_counter()
    for number in range(1, ROUNDS + 1):
        elapsed = time.perf_counter() - started
        if end_to_end and elapsed / len(end_to_end) * number > BUDGET_SECONDS:
            break
        start = time.perf_counter()
        outcomes = push_pass_updates(pass_ids)
        end_to_end.append(time.perf_counter() - start)
        if outcomes != Counter({SENT: n}):
            raise SystemExit(f"round {number}: push_pass_updates gave {outcomes}")
        check_delivery(standin, tokens, f"round {number}, push_pass_updates")
        recorded = len(standin.requests)
        connections.append(open_connections(standin.port))
        standin.clear()

        start = time.perf_counter()
        results = client.send_notification_batch(tokens, PASS_TYPE_ID)
        bare.append(time.perf_counter() - start)
        failed = [r for r in results.values() if not r.is_success]
        if len(results) != n or failed:
            raise SystemExit(f"round {number}: bare client, {len(failed)} failed")
        check_delivery(standin, tokens, f"round {number}, bare client")
        connections.append(open_connections(standin.port))
        standin.clear()

    attempts = db.session.scalar(
        select(func.count()).select_from(PushAttempt).where(PushAttempt.outcome == SENT)
    )
    expected = n * len(end_to_end) + warm_up
    if attempts != expected:
        raise SystemExit(f"{attempts} push attempts stored, expected {expected}")
    return {
        "setup": setup_seconds,
        "end_to_end": end_to_end,
        "bare": bare,
        "recorded": recorded,
        "connections": connections,
        "attempts": attempts,
    }


def report(args: argparse.Namespace, figures: dict) -> None:
    """Print the figures as a table."""
    n = args.registrations
    e2e_rate = n / statistics.median(figures["end_to_end"])
    bare_rate = n / statistics.median(figures["bare"])
    print(
        f"push bench: {n} registrations over {args.passes} passes, "
        f"median of {len(figures['end_to_end'])} rounds "
        f"(registrations inserted in {figures['setup']:.2f}s)"
    )
    print(f"{'measure':<40}{'pushes/s':>10}{'seconds':>10}")
    for name, rate in (
        ("push_pass_updates, end to end", e2e_rate),
        ("APNsClient.send_notification_batch", bare_rate),
    ):
        print(f"{name:<40}{rate:>10.0f}{n / rate:>10.3f}")
    print(f"{'ratio end to end / bare client':<40}{e2e_rate / bare_rate:>10.2f}x")
    print(f"{'requests the stand-in recorded':<40}{figures['recorded']:>10}")
    print(f"{'push attempts stored (incl. warm-up)':<40}{figures['attempts']:>10}")
    counts = {c for c in figures["connections"] if c is not None}
    shown = "/".join(str(c) for c in sorted(counts)) if counts else "unknown"
    print(f"{'TLS connections open after a round':<40}{shown:>10}")


if __name__ == "__main__":
    run(parse_args())
