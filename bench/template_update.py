"""Measure saving a template's design when it has 100,000 passes.

Saving marks every pass of the template changed in one UPDATE and returns;
a background job then re-signs and pushes the passes that have a device. The
bench times the save request, then the job, and compares the one-statement
marking with loading every pass as an object and marking each.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import func, select

from app import jobs
from app.dashboard.designer import design_form_values
from app.devchain import make_development_chain
from app.extensions import db
from app.models import Pass, Template, TemplateUpdate
from app.passes import service
from app.push.service import SENT
from bench.pass_list import CSRF, insert_passes, signed_in_client
from bench.push import PASS_TYPE_ID, TEAM_ID, make_push_app, start_standin

ROUNDS = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Fill a template with passes (one in 50 on a device), then time "
            "saving its design from the dashboard, the background job that "
            "re-signs and pushes, and the two ways of marking passes changed."
        )
    )
    parser.add_argument("--passes", type=int, help="passes to insert (100000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000")
    args = parser.parse_args()
    if args.passes is None:
        args.passes = 5_000 if args.quick else 100_000
    if args.passes < 200:
        parser.error("--passes must be at least 200")
    return args


def mark_one_by_one(template: Template) -> None:
    """Mark the passes as an ORM loop would: load each one, then set its tag."""
    passes = db.session.scalars(select(Pass).filter_by(template_id=template.id))
    service.mark_changed(list(passes))
    db.session.flush()


def mark_in_one_statement(template: Template) -> None:
    service.mark_template_changed(template)
    db.session.flush()


def time_marking(template: Template) -> dict[str, float]:
    """Median seconds of each way, rounds interleaved, each rolled back."""
    ways: dict[str, Callable[[Template], None]] = {
        "one UPDATE (mark_template_changed)": mark_in_one_statement,
        "load every pass, mark each (mark_changed)": mark_one_by_one,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, way in ways.items():
            start = time.perf_counter()
            way(template)
            times[name].append(time.perf_counter() - start)
            db.session.rollback()
    return {name: statistics.median(values) for name, values in times.items()}


def run(args: argparse.Namespace) -> None:
    chain = make_development_chain(PASS_TYPE_ID, TEAM_ID)
    with tempfile.TemporaryDirectory(prefix="passline-bench-") as name:
        folder = Path(name)
        with start_standin(chain, folder) as standin:
            app = make_push_app(folder, standin)
            app.config["JOB_QUEUE"] = "thread"
            jobs.init_app(app)
            with app.app_context():
                upgrade()
                start = time.perf_counter()
                ids = insert_passes(args.passes, chain)
                setup = time.perf_counter() - start
                template = db.session.get(Pass, ids[0]).template
                template_id, design = template.id, template.design
                in_template = db.session.scalar(
                    select(func.count(Pass.id)).filter_by(template_id=template_id)
                )
                marking = time_marking(template)
                db.session.remove()

            client = signed_in_client(app)
            page = f"/dashboard/templates/{template_id}"
            token = CSRF.search(client.get(page).get_data(as_text=True)).group(1)
            form = design_form_values(design)
            form["primaryFields-0-label"] = "HEADLINER"
            start = time.perf_counter()
            response = client.post(f"{page}/design", data={**form, "csrf_token": token})
            save = time.perf_counter() - start
            if response.status_code != 302:
                raise SystemExit(f"saving answered {response.status_code}")
            with app.app_context():
                start = time.perf_counter()
                jobs.join()
                job = time.perf_counter() - start
                update = db.session.scalars(select(TemplateUpdate)).one()
                figures = {
                    "setup": setup,
                    "in_template": in_template,
                    "marking": marking,
                    "save": save,
                    "job": job,
                    "total": update.total,
                    "done": update.done,
                    "outcomes": dict(update.outcomes),
                    "recorded": len(standin.requests),
                }
                app.extensions["passline.apns"].close()
                db.session.remove()
    report(args, figures)


def report(args: argparse.Namespace, figures: dict) -> None:
    print(
        f"template update bench on sqlite: {args.passes} passes over two templates, "
        f"{figures['in_template']} in the one saved "
        f"(passes inserted in {figures['setup']:.1f}s)"
    )
    print(f"{'measure':<48}{'seconds':>10}")
    print(f"{'POST .../design (answer, job queued)':<48}{figures['save']:>10.3f}")
    job, total = figures["job"], figures["total"]
    print(f"{'re-sign and push job':<48}{job:>10.2f}")
    rate = total / job if job else 0.0
    print(f"  {total} passes with devices, {figures['done']} done: {rate:.0f} per s")
    sent = figures["outcomes"].get(SENT, 0)
    print(f"  pushes sent {sent}, stand-in recorded {figures['recorded']}")
    print(f"marking {figures['in_template']} passes changed, median of {ROUNDS}:")
    for name, seconds in figures["marking"].items():
        print(f"  {name:<46}{seconds:>10.3f}")
    one, each = figures["marking"].values()
    print(f"  {'ratio one-by-one / one UPDATE':<46}{each / one:>9.1f}x")
    if sent != total or figures["recorded"] != total:
        raise SystemExit("not every pass with a device was pushed once")


if __name__ == "__main__":
    run(parse_args())
