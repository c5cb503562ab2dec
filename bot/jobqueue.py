"""The job queue that shares one batch between machines: procrastinate, in the state DB.

Why procrastinate (and not pgqueuer): it gives what a batch shared by several machines needs
without code of ours: a per-job ``lock`` (no two workers ever run one supplier at once), a
``queueing_lock`` (a supplier already waiting is not queued twice), worker heartbeats and
the query for the jobs of a worker that stopped sending them, and retries with a delay. It
runs on psycopg 3, as the journal does, and its tables are one more versioned migration of
the state DB (``bot.postgres``). pgqueuer has heartbeats and retries too, but no lock that
keeps two jobs of one supplier apart.

One job per supplier: its arguments are the run's id and the supplier's row (the same
personal data the journal holds; a finished job is deleted). What the job did is in the
journal, never in the queue: a worker that takes over a dead worker's job finds the
supplier's checkpoint there and resumes from it (``bot.flows.worker``).

A run started with ``batch --enqueue`` records its plan in ``queued_runs`` (migration 4): its lines in
the file's order (a supplier to run, or a line already decided: a bad row, a supplier final
in the journal). The worker that finishes the last supplier of a run records the run's end
in the journal (its report lines), as ``batch`` does at its end.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import procrastinate
from loguru import logger

from bot.journal import RUNNING, Journal, is_final
from bot.models import RegistrationResult, Supplier
from bot.postgres import migrate

QUEUE = "chorus-bot"
TASK_NAME = "chorus_bot.register_supplier"
PUT_BACK_DELAY_S = 30  # a job its worker could not run (stopping, portal down) waits this long


class PutBack(Exception):
    """The worker cannot run this job now (it is stopping, the portal is down): queue it again."""


def make_app(url: str, register=None) -> procrastinate.App:
    """The queue's procrastinate app on the state DB; ``register``: the worker's task body
    (an ``async def (job_id, run_id, supplier, retry_failed)``), None to only enqueue."""
    migrate(url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    async def register_supplier(context: procrastinate.JobContext, run_id: str, supplier: dict,
                                retry_failed: bool = False) -> None:
        if register is None:
            raise RuntimeError("this process only enqueues")
        await register(context.job.id, run_id, supplier, retry_failed)

    app.task(
        name=TASK_NAME, queue=QUEUE, pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=1000, wait=PUT_BACK_DELAY_S, retry_exceptions={PutBack}),
    )(register_supplier)
    return app


@dataclass
class Enqueued:
    run_id: str
    queued: list[Supplier] = field(default_factory=list)
    final: int = 0  # final in the journal, not queued (their last result is in the run's report)
    already_queued: list[Supplier] = field(default_factory=list)  # a job of another run waits for them


def enqueue(url: str, journal: Journal, run_id: str, lines: Sequence[tuple[int, Supplier | RegistrationResult]],
            retry_failed: bool) -> Enqueued:
    """Queue a run: one job per supplier to run; every line goes into the run's plan."""
    outcome = Enqueued(run_id)
    plan: list[dict] = []
    app = make_app(url)
    with app.open():
        task = app.tasks[TASK_NAME]
        for line, item in lines:
            if isinstance(item, RegistrationResult):
                plan.append({"line": line, "result": item.model_dump(mode="json")})
                continue
            entry = journal.get(item.siret)
            if is_final(entry, retry_failed):
                outcome.final += 1
                plan.append({"line": line, "siret": item.siret, "email": item.email})
                continue
            try:
                task.configure(lock=item.siret, queueing_lock=item.siret).defer(
                    run_id=run_id, supplier=item.model_dump(mode="json"), retry_failed=retry_failed
                )
            except procrastinate.exceptions.AlreadyEnqueued:
                outcome.already_queued.append(item)
                plan.append({"line": line, "siret": item.siret, "email": item.email})
                continue
            outcome.queued.append(item)
            plan.append({"line": line, "siret": item.siret, "email": item.email, "queued": True})
        app.connector.get_sync_connector().execute_query(
            "INSERT INTO queued_runs (run_id, queued, plan_json) VALUES (%(run_id)s, %(queued)s, %(plan)s)",
            run_id=run_id, queued=len(outcome.queued), plan=json.dumps(plan, ensure_ascii=False),
        )
    return outcome


def finish_if_complete(url: str, journal: Journal, run_id: str) -> list[RegistrationResult] | None:
    """After a supplier of ``run_id``: if every supplier it queued has its outcome in the
    journal, record the run's end (its report lines, in the file's order) and return them;
    else None.

    Each worker calls it once its supplier's outcome is in the journal, so the last of them
    to write sees every supplier done. Two finishing together may both see it: both record
    the same lines. (A supplier that a later run takes up before this run ends carries the
    later run's id: this run then stays without an end, and its report is marked incomplete.)"""
    from bot.flows.batch import journal_result
    from bot.postgres import connect

    with connect(url) as conn:
        # First the cheap question, asked after every supplier: are all the run's suppliers done?
        done = conn.execute(
            "SELECT q.queued <= (SELECT count(*) FROM suppliers s WHERE s.run_id = q.run_id AND s.status <> %s)"
            " FROM queued_runs q WHERE q.run_id = %s", (RUNNING, run_id),
        ).fetchone()
        if not done or not done[0]:
            return None
        row = conn.execute("SELECT plan_json FROM queued_runs WHERE run_id = %s", (run_id,)).fetchone()
    record = journal.run(run_id)
    if row is None or record is None or record.finished_at is not None:
        return None
    results: list[RegistrationResult] = []
    for item in json.loads(row[0]):
        if "result" in item:
            results.append(RegistrationResult.model_validate(item["result"]))
            continue
        entry = journal.get(item["siret"])
        if item.get("queued") and (entry is None or entry.run_id != run_id or entry.status == RUNNING):
            return None  # not run yet, or running
        if entry is None:
            return None
        results.append(journal_result(entry))
    journal.finish_run(run_id, results)
    logger.info(f"run {run_id}: every supplier is done; its end is recorded")
    return results

