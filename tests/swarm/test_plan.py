"""The swarm target's pure decisions: port blocks, the service's arguments (no secret
value in them), what tasks say, and reconciling the engine's update status."""

from __future__ import annotations

from pathlib import Path

from stageline.targets.base import ProcessInfo
from stageline.targets.swarm import plan
from stageline.targets.swarm.image import build_script
from stageline.targets.swarm.plan import Task
from stageline.targets.swarm.state import Placed, SwarmState, load, save


def test_a_port_block_avoids_taken_and_busy_ports() -> None:
    busy = {20004}
    base = plan.choose_base(2, taken={20001, 20002}, is_free=lambda p: p not in busy, start=0)
    assert base == 20006  # 20000 holds taken ports, 20003 a busy one
    assert plan.ports_of(base, 2) == (20007, 20008)


def test_a_port_block_search_wraps_and_fails_when_full() -> None:
    assert plan.choose_base(1, (), lambda p: True, start=5, span=(100, 110)) == 100
    try:
        plan.choose_base(3, (), lambda p: False, start=0, span=(100, 110))
    except ValueError as exc:
        assert "no 3 free ports" in str(exc)
    else:
        raise AssertionError("a full range must fail")


def args(**overrides: object) -> list[str]:
    given: dict[str, object] = dict(
        environment="production", digest="sha256:" + "a" * 64, base=21000, replicas=2,
        variables={"APP_ENV": "production", "PAYMENT_API_KEY": "sk_live_x", "PORT": "1",
                   "DATABASE_URL": "postgresql://shop:pw@127.0.0.1:5432/shop"},
        secrets=["PAYMENT_API_KEY", "DATABASE_URL"], limits=plan.Limits(0.5, 256),
        health_timeout=30.0, stop_grace=10.0, resolve_image=True,
    )  # fmt: skip
    given.update(overrides)
    return plan.create_args("shop-production-aaaa-1", "127.0.0.1:5000/shop@sha256:b", **given)  # type: ignore[arg-type]


def test_the_service_runs_on_the_host_network_with_slot_ports_and_no_secret_value() -> None:
    line = args()
    text = " ".join(line)
    assert line[line.index("--network") + 1] == "host" and "--publish" not in line
    assert "STAGELINE_PORT_BASE=21000" in line and "STAGELINE_SLOT={{.Task.Slot}}" in line
    assert "sk_live_x" not in text and "pw@" not in text and "PORT=1" not in line
    assert "source=shop-production-aaaa-1-payment-api-key,target=PAYMENT_API_KEY,mode=0400" in line
    assert "STAGELINE_SECRET_FILES=DATABASE_URL,PAYMENT_API_KEY" in line
    assert line[line.index("--limit-memory") + 1] == "256m" and "--no-resolve-image" not in line
    assert plan.HEALTH_CMD in line and line[-2:] == ["127.0.0.1:5000/shop@sha256:b", "web"]


def test_a_local_image_is_not_resolved_against_a_registry() -> None:
    assert "--no-resolve-image" in args(resolve_image=False, limits=plan.Limits())
    assert "--limit-cpu" not in args(limits=plan.Limits())


def test_urls_with_passwords_are_secret() -> None:
    assert plan.has_password("postgresql://shop:pw@127.0.0.1/shop")
    assert not plan.has_password("postgresql://shop@127.0.0.1/shop")
    assert not plan.has_password("https://payments.example.invalid/")


def row(name: str, state: str, desired: str = "Running", error: str = "") -> dict[str, str]:
    return {"Name": name, "CurrentState": state, "DesiredState": desired, "Error": error}


def test_tasks_are_read_from_the_engines_rows() -> None:
    tasks = [
        Task.from_row(row("shop-x.1", "Running 3 seconds ago")),
        Task.from_row(row("shop-x.2", "Starting 1 second ago")),
        Task.from_row(row("shop-x.2", "Failed 9 seconds ago", "Shutdown", "unhealthy container")),
    ]
    assert [t.slot for t in tasks] == [1, 2, 2]
    assert not plan.ready(tasks, 2)
    assert [t.error for t in plan.failures(tasks)] == ["unhealthy container"]
    assert plan.overall({t.state for t in plan.current(tasks).values()}) == "starting"
    running = [Task.from_row(row(f"shop-x.{n}", "Running now")) for n in (1, 2)]
    assert plan.ready(running, 2) and not plan.ready(running, 3)
    assert (
        plan.overall({"running"}) == "running" and plan.overall({"crashed", "running"}) == "crashed"
    )
    assert plan.overall({"stopped"}) == "stopped"


def test_an_update_the_engine_rolled_back_is_found() -> None:
    assert plan.reconcile("completed", "", "img@a", "img@a").action == ""
    away = plan.reconcile("rollback_completed", "update failed", "img@old", "img@new")
    assert away.action == "rolled_back" and "img@old" in away.reason
    assert plan.reconcile("rollback_completed", "", "img@a", "img@a").action == "note"
    # judged once it ends: one record, not one while it runs and one after
    assert plan.reconcile("rollback_started", "update failed", "img@old", "img@new").action == ""
    assert plan.reconcile("rollback_paused", "", "img@a", "img@a").action == "note"


def test_the_image_is_built_offline_from_the_wheelhouse() -> None:
    script = build_script(["/artifact/wheels/shop-1.0-py3-none-any.whl"], "bundle")
    assert "--no-index" in script and "--find-links /artifact/wheels" in script
    assert "python3 -m venv /stageline/venv" in script and "/stageline/bundle" in script


def test_a_worker_has_no_health_check_and_runs_its_process_type() -> None:
    line = args(command=("worker", "mailer"), replicas=1)
    assert "--no-healthcheck" in line and plan.HEALTH_CMD not in line
    assert line[-3:] == ["127.0.0.1:5000/shop@sha256:b", "worker", "mailer"]


def test_a_variable_holding_a_password_is_secret_alone_or_inside_another_value() -> None:
    """A password reaches the spec through no variable: not as ``DB_PASSWORD`` copied from
    ``${postgres.password}``, not inside a DSN that is no URL, not as a backing service's
    password with no URL beside it; short values are not searched for (``on``)."""
    from stageline.targets.swarm.target import _secret_names

    variables = {
        "DATABASE_URL": "postgresql://shop:s3cr%40t-pw@127.0.0.1:5432/shop",
        "DB_PASSWORD": "s3cr@t-pw",
        "DSN": "host=127.0.0.1 password=s3cr@t-pw",
        "API_KEY": "key-123456",
        "HEADER": "Bearer key-123456",
        "REDIS_PASSWORD": "redis-pw-99",
        "FLAG": "on",
        "APP_ENV": "staging",
        "STAGELINE_SECRET_NAMES": "API_KEY,FLAG",
    }
    names = _secret_names(variables, ("redis-pw-99",))
    assert names == {
        "DATABASE_URL",
        "DB_PASSWORD",
        "DSN",
        "API_KEY",
        "HEADER",
        "REDIS_PASSWORD",
        "FLAG",
    }
    assert "APP_ENV" not in names and "STAGELINE_SECRET_NAMES" not in names


def test_a_worker_mounts_the_secrets_made_for_its_release() -> None:
    """The secrets are made once per release, named after its web service: a worker's
    service (named after it, ``plan.worker_name``) mounts those, it has none of its own."""
    name = plan.worker_name("shop-production-aaaa-1", "Mail Sender")
    assert name == "shop-production-aaaa-1-mail-sender"
    line = plan.create_args(
        name, "shop@sha256:b", environment="production", digest="sha256:" + "a" * 64,
        base=21000, replicas=1, variables={"PAYMENT_API_KEY": "sk_live_x"},
        secrets=["PAYMENT_API_KEY"], limits=plan.Limits(), health_timeout=30.0,
        stop_grace=10.0, resolve_image=False, command=("worker", "Mail Sender"),
        release="shop-production-aaaa-1",
    )  # fmt: skip
    assert "source=shop-production-aaaa-1-payment-api-key,target=PAYMENT_API_KEY,mode=0400" in line


# -- where tasks are reached -----------------------------------------------------------------


def node(id_: str, addr: str, *, manager: str = "", state: str = "ready") -> plan.Node:
    data: dict[str, object] = {
        "ID": id_, "Description": {"Hostname": f"host-{id_}"},
        "Status": {"State": state, "Addr": addr}, "Spec": {"Availability": "active"},
    }  # fmt: skip
    if manager:
        data["ManagerStatus"] = {"Addr": manager, "Leader": True}
    return plan.Node.from_inspect(data)


def task(slot: int, node_id: str, state: str = "Running 3 seconds ago") -> dict[str, str]:
    """A row of ``docker service ps --no-resolve --format '{{json .}}'``."""
    return {"Name": f"k2j9svc.{slot}", "Node": node_id, "DesiredState": "Running",
            "CurrentState": state, "Error": ""}  # fmt: skip


def test_each_task_is_reached_at_its_nodes_address_and_its_slots_port() -> None:
    nodes = [node("n1", "10.0.0.5"), node("n2", "10.0.0.6")]
    rows = [task(1, "n1"), task(2, "n2"), task(3, "n2", "Starting 1 second ago")]
    rows.append({**task(1, "n2", "Failed 9 seconds ago"), "DesiredState": "Shutdown"})
    tasks = [Task.from_row(row) for row in rows]
    found = plan.task_addresses(tasks, nodes, (21001, 21002, 21003))
    assert found == {1: ("10.0.0.5", 21001), 2: ("10.0.0.6", 21002)}  # slot 3 not running
    by_hostname = [Task.from_row({**task(1, "host-n2")})]  # without --no-resolve
    assert plan.task_addresses(by_hostname, nodes, (21001,)) == {1: ("10.0.0.6", 21001)}
    assert plan.task_addresses([Task.from_row(task(1, "gone"))], nodes, (21001,)) == {}


def test_a_manager_reported_at_0_0_0_0_is_reached_at_its_advertised_address() -> None:
    assert node("m", "0.0.0.0", manager="127.0.0.2:41234").address == "127.0.0.2"
    assert node("m", "10.1.2.3", manager="10.1.2.3:2377").address == "10.1.2.3"
    assert not node("d", "10.1.2.4", state="down").available


START = "uvicorn app:app --host {host} --port {port}"


def test_listen_must_be_where_the_front_reaches_every_node() -> None:
    one = [node("n1", "127.0.0.1")]
    assert plan.listen_problem("127.0.0.1", "uvicorn --host 127.0.0.1", one) is None
    assert plan.listen_problem("127.0.0.2", START, [node("n1", "127.0.0.2")]) is None
    many = [node("n1", "10.0.0.5"), node("n2", "10.0.0.6")]
    assert plan.listen_problem("0.0.0.0", START, many) is None
    problem = plan.listen_problem("127.0.0.1", START, many)
    assert problem and "host-n1 is at 10.0.0.5, but tasks listen on 127.0.0.1" in problem
    problem = plan.listen_problem("127.0.0.2", "uvicorn --host 127.0.0.1", one)
    assert problem and "needs {host} in [service] start" in problem
    drained = [node("n1", "127.0.0.2"), node("n2", "10.0.0.6", state="down")]
    assert plan.listen_problem("127.0.0.2", START, drained) is None  # no task lands there


def test_a_wildcard_is_refused_when_a_node_is_on_a_public_address() -> None:
    nodes = [node("n1", "10.0.0.5"), node("n2", "203.0.113.7")]
    assert plan.is_public("8.8.8.8") and not plan.is_public("10.0.0.5")
    problem = plan.listen_problem("0.0.0.0", START, [node("n1", "10.0.0.5"), node("n2", "8.8.4.4")])
    assert problem and "host-n2 is on the public address 8.8.4.4" in problem
    assert plan.listen_problem("::", START, nodes[:1]) is None


def test_the_service_tells_its_tasks_where_to_listen() -> None:
    assert "STAGELINE_LISTEN=127.0.0.1" in args()
    assert "STAGELINE_LISTEN=0.0.0.0" in args(listen="0.0.0.0")
    assert "STAGELINE_LISTEN=1" not in args(variables={"STAGELINE_LISTEN": "1"})


def test_a_release_keeps_where_its_tasks_were_routed(tmp_path: Path) -> None:
    placed = Placed("svc", "sha256:a", "img", (21001, 21002), hosts=("10.0.0.5", "10.0.0.6"))
    save(tmp_path, SwarmState(serving=placed))
    again = load(tmp_path).serving
    assert again == placed and again.addresses == (("10.0.0.5", 21001), ("10.0.0.6", 21002))
    older = Placed("svc", "sha256:a", "img", (21001,))  # a state written before hosts
    assert older.addresses == (("127.0.0.1", 21001),)


def test_tasks_write_to_the_hosts_outbox_through_a_bind_mount() -> None:
    source = "/srv/shop/.stageline/envs/production/outbox.jsonl"
    line = args(outbox=source)
    assert line[line.index("--mount") + 1] == f"type=bind,source={source},target={plan.OUTBOX}"
    assert f"STAGELINE_OUTBOX={plan.OUTBOX}" in line
    assert "--mount" not in args()
    # the environment names its own destination (e.g. a database): nothing is mounted
    variables = {"APP_ENV": "production", "STAGELINE_OUTBOX": "/data/outbox.jsonl"}
    own = args(outbox=source, variables=variables, secrets=[])
    assert "--mount" not in own and "STAGELINE_OUTBOX=/data/outbox.jsonl" in own
    assert plan.outbox_args(None, {}) == []


def worker_tasks(*rows: tuple[str, str, str]) -> list[Task]:
    """A worker service's tasks from (current state, desired state, error) rows."""
    return [Task.from_row(row("shop-x-worker.1", *found)) for found in rows]


RUNNING = ("Running 2 seconds ago", "Running", "")
EXITED = ("Failed 3 seconds ago", "Shutdown", "task: non-zero exit (3)")


def test_a_new_worker_has_started_once_it_ran_the_settle_time() -> None:
    first = plan.worker_start(worker_tasks(("Preparing now", "Running", "")), None, 10.0, 3.0)
    assert first == plan.WorkerStart(None)  # not running yet: nothing counts
    seen = plan.worker_start(worker_tasks(RUNNING), None, 11.0, 3.0)
    assert seen.since == 11.0 and not seen.started and not seen.problem
    assert not plan.worker_start(worker_tasks(RUNNING), 11.0, 13.9, 3.0).started
    assert plan.worker_start(worker_tasks(RUNNING), 11.0, 14.0, 3.0).started


def test_a_new_worker_whose_task_ended_fails_at_once_with_the_engines_error() -> None:
    # restarted by Swarm: running again, but a task of it exited before it settled
    again = plan.worker_start(worker_tasks(RUNNING, EXITED), 1.0, 60.0, 3.0)
    assert again.problem == "task: non-zero exit (3)" and not again.started
    returned = worker_tasks(("Complete 1 second ago", "Shutdown", ""))
    assert plan.worker_start(returned, None, 1.0, 3.0).problem == "it exited with code 0"
    refused = worker_tasks(("Rejected 1 second ago", "Shutdown", "No such image: shop@sha256:b"))
    assert plan.why_ended(refused) == "No such image: shop@sha256:b"
    # stopped on purpose (the service was scaled or removed) is not an end of its own
    assert plan.why_ended(worker_tasks(("Shutdown 1 second ago", "Shutdown", ""))) is None
    assert plan.why_ended(worker_tasks(RUNNING)) is None


def test_a_worker_shows_in_status_as_local_shows_one() -> None:
    well = plan.worker_process("worker", worker_tasks(RUNNING))
    assert well == ProcessInfo(None, 0, "running", True, 0, "worker")
    # a crash loop: the task that replaces the last one waits, every end is a restart
    looping = worker_tasks(("Ready 1 second ago", "Running", ""), EXITED, EXITED)
    assert plan.worker_process("worker", looping) == ProcessInfo(
        None, 0, "backoff", False, 2, "worker"
    )
    again = plan.worker_process("worker", worker_tasks(RUNNING, EXITED))
    assert (again.state, again.healthy, again.restarts) == ("running", True, 1)
    assert plan.worker_process("worker", worker_tasks(("Pending now", "Running", ""))).state == (
        "starting"
    )
    assert plan.worker_process("worker", []).state == "stopped"  # its service is gone
    # the release's state: a worker in backoff shows through running web tasks
    assert plan.overall({"running", "backoff"}) == "backoff"
    assert plan.overall({"crashed", "backoff"}) == "crashed"


def test_a_release_names_its_workers_process_types(tmp_path: Path) -> None:
    placed = Placed(
        "svc", "sha256:a", "img", (21001,), workers=("svc-celery-beat",), processes=("celery_beat",)
    )
    save(tmp_path, SwarmState(serving=placed))
    again = load(tmp_path).serving
    assert again == placed and again.worker_types == (("celery_beat", "svc-celery-beat"),)
    older = Placed("svc", "sha256:a", "img", (21001,), workers=("svc-worker",))  # before types
    assert older.worker_types == (("worker", "svc-worker"),)
