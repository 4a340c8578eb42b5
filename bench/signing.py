"""Measure signed .pkpass bundles per second for Apple's Event sample."""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import delete, select

from app.certificates import (
    SigningIdentity,
)
from app.devchain import make_development_chain
from app.extensions import db
from app.models import Pass, SignedBundle
from app.passes import service
from app.passes.bundle import build_pkpass
from app.passes.importer import import_design
from bench.bench_app import make_app, make_pass_type
from tests.bundle_check import verify_bundle

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT.parent / "shared" / "samples" / "apple" / "Event.pkpass"
PASS_TYPE_ID = "pass.bench.passline.events"
TEAM_ID = "BENCHTEAM1"
ROUNDS = 3
WARM_UP = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Issue passes from Apple's Event sample and time signing them: fresh "
            "(build, sign, zip, store), already signed (stored bytes) and "
            "build_pkpass alone without the database."
        )
    )
    parser.add_argument(
        "--sample", type=Path, default=SAMPLE, help=f"pass to import (default {SAMPLE})"
    )
    parser.add_argument(
        "--passes", type=int, help="passes to issue and sign (default 500)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 50 passes unless --passes"
    )
    args = parser.parse_args()
    if args.passes is None:
        args.passes = 50 if args.quick else 500
    if args.passes < 1:
        parser.error("--passes must be at least 1")
    if not args.sample.is_file():
        parser.error(f"no sample pass at {args.sample}")
    return args


def all_passes() -> list[Pass]:
    """Load every pass, in issue order."""
    return list(db.session.scalars(select(Pass).order_by(Pass.id)))


def forget_bundles() -> None:
    """Drop every stored bundle so the next signed_bundle call signs afresh."""
    db.session.execute(delete(SignedBundle))
    db.session.commit()


def timed(work: Callable[[], object]) -> float:
    """Run work once and return the seconds it took."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def sign_all(passes: list[Pass], into: dict[int, bytes]) -> None:
    """Get each pass's signed bundle through the service, keeping the bytes."""
    for pass_ in passes:
        into[pass_.id] = service.signed_bundle(pass_)


def build_all(
    prepared: list[tuple[dict[str, bytes], datetime]], identity: SigningIdentity
) -> None:
    """Validate, sign and zip rendered files, with no database involved."""
    for files, modified_at in prepared:
        build_pkpass(files, identity, modified_at=modified_at)


def run(args: argparse.Namespace) -> None:
    """Set up an app with issued passes, time the three measures, report."""
    chain = make_development_chain(PASS_TYPE_ID, TEAM_ID)
    with tempfile.TemporaryDirectory(prefix="passline-bench-") as name:
        folder = Path(name)
        app = make_app(folder)
        with app.app_context():
            upgrade()
            pass_type = make_pass_type(chain)
            template = service.create_template(
                pass_type, "Event sample", import_design(args.sample)
            )
            for number in range(args.passes):
                service.issue_pass(template, {}, serial_number=f"bench-{number:06d}")
            identity = service.signing_identity(pass_type)
            prepared = [(service.render_files(p), p.updated_at) for p in all_passes()]

            # Warm-up: imports, caches, the first key load and SQLite pages.
            warm = all_passes()[:WARM_UP]
            sign_all(warm, {})
            sign_all(warm, {})
            build_all(prepared[:WARM_UP], identity)

            # Rounds interleave the three measures so drift hits them alike.
            fresh, stored, raw = [], [], []
            fresh_bytes: dict[int, bytes] = {}
            stored_bytes: dict[int, bytes] = {}
            for _ in range(ROUNDS):
                forget_bundles()
                passes = all_passes()
                fresh.append(timed(lambda ps=passes: sign_all(ps, fresh_bytes)))
                passes = all_passes()
                stored.append(timed(lambda ps=passes: sign_all(ps, stored_bytes)))
                raw.append(timed(lambda: build_all(prepared, identity)))
                if stored_bytes != fresh_bytes:
                    raise SystemExit("already-signed bytes differ from the fresh ones")

            # Fast but wrong bundles would make the figures meaningless.
            (folder / "root.pem").write_bytes(chain.root_pem)
            verify_bundle(next(iter(fresh_bytes.values())), folder / "root.pem", folder)
            bundle_size = statistics.median(len(b) for b in fresh_bytes.values())
            db.session.remove()
        app.extensions["passline.apns"].close()

    report(args, fresh, stored, raw, bundle_size)


def report(
    args: argparse.Namespace,
    fresh: list[float],
    stored: list[float],
    raw: list[float],
    bundle_size: float,
) -> None:
    """Print the rates as a table, with the ratios between them."""
    n = args.passes
    rates = {
        "fresh: signed_bundle, first time": n / statistics.median(fresh),
        "already signed: signed_bundle again": n / statistics.median(stored),
        "build_pkpass only (no DB)": n / statistics.median(raw),
    }
    print(
        f"signing bench: {args.sample.name}, {n} passes, "
        f"median of {ROUNDS} rounds, bundle {bundle_size / 1024:.1f} KiB"
    )
    print(f"{'measure':<38}{'passes/s':>10}{'ms/pass':>10}")
    for name, rate in rates.items():
        print(f"{name:<38}{rate:>10.1f}{1000 / rate:>10.3f}")
    fresh_rate, stored_rate, raw_rate = rates.values()
    print(f"{'ratio already signed / fresh':<38}{stored_rate / fresh_rate:>10.1f}x")
    print(f"{'ratio build_pkpass only / fresh':<38}{raw_rate / fresh_rate:>10.2f}x")


if __name__ == "__main__":
    run(parse_args())
