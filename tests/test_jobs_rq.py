"""Background jobs through a real Redis and RQ, as a multi-machine install runs them."""

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from app import create_app, jobs
from app.extensions import db
from app.models import PushAttempt
from app.passes import service
from tests.conftest import KEY_ENCRYPTION_KEY

DEVICE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PUSH_TOKEN = "cd" * 32


@pytest.fixture
def rq_app(app, redis_url):
    """The test app with its jobs going through Redis to an RQ worker."""
    Redis.from_url(redis_url).flushdb()
    app.config.update(JOB_QUEUE="rq", REDIS_URL=redis_url, RQ_QUEUE="passline-test")
    app.extensions["passline.jobs"] = jobs.RedisQueue(app)
    return app


def _register(client, pass_):
    response = client.post(
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def test_a_pass_update_waits_in_redis_until_a_worker_pushes_it(
    rq_app, client, issued_pass, apns, redis_url
):
    _register(client, issued_pass)

    service.update_pass(issued_pass, {**issued_pass.data, "gate": "7"})

    queue = Queue("passline-test", connection=Redis.from_url(redis_url))
    [job] = queue.get_jobs()
    assert (job.func_name, job.args) == (
        "app.push.service.push_pass_updates",
        ([issued_pass.id],),
    )
    assert apns.requests == []

    jobs.run_worker(rq_app, burst=True)

    assert [r.path for r in apns.wait_for(1)] == [f"/3/device/{PUSH_TOKEN}"]
    assert queue.count == 0
    db.session.expire_all()
    [attempt] = db.session.scalars(select(PushAttempt)).all()
    assert (attempt.outcome, attempt.push_token_suffix) == ("sent", PUSH_TOKEN[-8:])


def test_a_failing_job_lands_in_the_failed_registry(rq_app, redis_url):
    jobs.enqueue("app.jobs.resolve", "app.no_such_module.function")

    jobs.run_worker(rq_app, burst=True)

    connection = Redis.from_url(redis_url)
    failed = FailedJobRegistry("passline-test", connection=connection)
    [job_id] = failed.get_job_ids()
    job = Queue("passline-test", connection=connection).fetch_job(job_id)
    assert "No module named 'app.no_such_module'" in job.latest_result().exc_string


def test_join_waits_for_the_jobs_this_process_enqueued(rq_app, issued_pass):
    queue = rq_app.extensions["passline.jobs"]
    jobs.enqueue("app.push.service.push_pass_updates", [issued_pass.id])

    queue.join(timeout=0.2)  # no worker yet: gives up after the timeout
    assert len(queue._mine) == 1
    jobs.run_worker(rq_app, burst=True)
    queue.join(timeout=5)

    assert queue._mine == []


def test_the_rq_setting_installs_the_redis_queue(redis_url, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "JOB_QUEUE": "rq",
            "REDIS_URL": redis_url,
        },
        instance_path=str(tmp_path / "instance"),
    )

    installed = app.extensions["passline.jobs"]
    assert isinstance(installed, jobs.RedisQueue)
    assert installed.queue.name == "passline"


def test_the_worker_command_explains_an_unreachable_redis(app):
    app.config.update(JOB_QUEUE="rq", REDIS_URL="redis://127.0.0.1:1/0")
    app.extensions["passline.jobs"] = jobs.RedisQueue(app)

    result = app.test_cli_runner().invoke(args=["jobs-worker", "--burst"])

    assert result.exit_code == 1
    assert "Cannot reach Redis at redis://127.0.0.1:1/0" in result.output


def test_the_worker_command_needs_the_rq_setting(app):
    result = app.test_cli_runner().invoke(args=["jobs-worker", "--burst"])

    assert result.exit_code == 1
    assert 'a jobs worker needs JOB_QUEUE = "rq" and REDIS_URL' in result.output
