"""The web console in a real browser (headless Chromium driven by Playwright): the nodes and tasks
of a cluster, a new service's tasks appearing without a reload, a pending task's reason, a rollout's
step. Screenshots are kept in ``artefacts/console/``.

These run against the console's door over a fake console (``tests/unit/frontdoor/ui/fakes.py``): the
page's own behaviour (virtualised columns, live notices, the detail, the panels)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shoal.api.console import TaskCard, WorkloadRow
from shoal.frontdoor.ui.server import UIServer
from tests.e2e.browser import console_page, screenshot
from tests.support import free_port
from tests.unit.frontdoor.ui.fakes import FakeNode, sample_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeNode, str]]:
    node = FakeNode(fake_console=sample_cluster(nodes=60, tasks_per_node=25, pending=3))
    ui = UIServer(node, f"127.0.0.1:{free_port()}")
    await ui.start()
    try:
        yield node, ui.url
    finally:
        await ui.stop()


async def test_fake_console_board_live_pending_and_rollout(fake: tuple[FakeNode, str]) -> None:
    node, url = fake
    console = node.console()
    async with console_page(url + "/") as page:
        await page.wait_for_selector("body[data-rendered='1']")
        assert await page.locator("#summary [data-count=nodes] b").inner_text() == "60"
        # only the columns in view exist, and only the cards in view
        cols = await page.locator(".col").count()
        assert 3 <= cols <= 10
        assert await page.locator(".col[data-key='-'] .card").count() == 3
        assert await page.locator(".card").count() < 25 * cols
        await screenshot(page, "fake-board")

        # a new service's tasks appear without a reload
        nid = console.node_cards[1].ID
        for i in range(2):
            console.task_cards.append(TaskCard(ID=f"new{i}", Kind="task", Name=f"aaa.{i + 1}", Owner="aaa",
                                               NodeID=nid, State="running", Image="nginx"))
        console.notify(["tasks", "workloads"], [nid])
        await page.wait_for_selector(f".col[data-key='{nid}'] .card[data-id='new0']")

        # a pending one shows its reason, node by node
        await page.click(".col[data-key='-'] .card >> nth=0")
        await page.wait_for_selector("#pending-reason")
        assert "insufficient resources" in await page.locator("#pending-reason").inner_text()
        assert await page.locator("#rejections tbody tr").count() == 60
        await screenshot(page, "fake-pending")
        await page.click("#detail-close")

        # a rollout shows its step
        console.rows.append(WorkloadRow(ID="dep1", Kind="deployment", Name="api", Namespace="default",
                                        Mode="replicated", Replicas=6, Running=6, Ready=5, Rollout="progressing",
                                        Step="2/6 updated"))
        await page.click("button[data-tab=workloads]")
        await page.wait_for_selector("tr[data-id='dep1'] .step")
        assert "2/6 updated" in await page.locator("tr[data-id='dep1']").inner_text()
        await screenshot(page, "fake-workloads")

        # scrolled far right: other columns, still only those in view
        await page.click("button[data-tab=board]")
        await page.evaluate("document.getElementById('columns').scrollLeft = 40 * 272")
        await page.wait_for_selector(".col-head h3:text('host-0040')")
        assert await page.locator(".col").count() <= 10
