"""The task table that ``shoal service ps`` and ``shoal node ps`` both print (docker's ``task.Print``):
service and node IDs resolved to names unless ``--no-resolve``, or only the task IDs with ``-q``."""

from __future__ import annotations

from typing import Any

import click

from shoal.cli.client import Client, Resolver
from shoal.cli.output import TASK_HEADER, table, task_ids, task_rows


def print_tasks(c: Client, tasks: list[dict[str, Any]], trunc: bool = True, quiet: bool = False,
                no_resolve: bool = False) -> None:
    r = Resolver(c, no_resolve)
    service_names = {t.get("ServiceID", ""): r.service(t.get("ServiceID", "")) for t in tasks}
    if quiet:
        for tid in task_ids(tasks, service_names, trunc):
            click.echo(tid)
        return
    node_names = {t.get("NodeID", ""): r.node(t.get("NodeID", "")) for t in tasks}
    click.echo(table(TASK_HEADER, task_rows(tasks, service_names, node_names, trunc)), nl=False)
