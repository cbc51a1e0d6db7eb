"""The web console in a real browser (headless Chromium driven by Playwright): the nodes and tasks
of a cluster, a new service's tasks appearing without a reload, a pending task's reason, a rollout's
step. Screenshots are kept in ``artefacts/console/``.

The first runs against the console's door over a fake console (``tests/unit/frontdoor/ui/fakes.py``):
the page's own behaviour (virtualised columns, live notices, the detail, the panels) on 60 nodes. The
second against a real in-process cluster of hollow nodes (``tests/integration/kubesim.py``, the
manager's own console core) served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal import sim
from shoal.api.console import TaskCard, WorkloadRow
from shoal.api.pod import PodSpecExtra
from shoal.api.types import (
    ContainerSpec,
    Deployment,
    DeploymentSpec,
    LabelSelectorSpec,
    PodTemplate,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    clone,
)
from shoal.frontdoor.ui.server import UIServer
from tests.e2e.browser import console_page, screenshot
from tests.integration import kubesim
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


# ---------------------------------------------------------------- a real cluster

GiB = 1 << 30
CPU = 1_000_000_000


def swarm_spec(name: str, replicas: int, cpus: float = 0, image: str = "hollow") -> ServiceSpec:
    """A replicated service updated one task at a time with an hour between (a rollout that stays at
    its first step)."""
    res = ResourceRequirements(Reservations=Resources(NanoCPUs=int(cpus * CPU))) if cpus else None
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image=image)], Resources=res),
                       Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas)),
                       UpdateConfig=UpdateConfig(Parallelism=1, Delay=3600 * CPU, FailureAction="pause"))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[sim.Sim, str]]:
    """Three hollow nodes in this process (a real manager: store, scheduler, orchestrators, the
    console's core), the console served on a loopback port."""
    async with kubesim.kube_sim(tmp_path, 3, cpus=4, memory=4 * GiB) as s:
        try:
            s.daemon.console().summary()
        except NotImplementedError:
            pytest.skip("the console's core (manager/console.py) is not on this branch yet")
        ui = UIServer(s.daemon, f"127.0.0.1:{free_port()}")
        await ui.start()
        try:
            yield s, ui.url
        finally:
            await ui.stop()


async def test_real_cluster_nodes_tasks_live_pending_rollout_and_an_action(cluster: tuple[sim.Sim, str]) -> None:
    s, url = cluster
    m = kubesim.manager(s)
    web = await m.control.create_service(swarm_spec("web", 4, cpus=0.5))
    async with console_page(url + "/") as page:
        # the nodes as columns, their tasks as cards
        await page.wait_for_selector("body[data-rendered='1']")
        for i in range(3):
            await page.wait_for_selector(f".col-head h3:text-is('hollow-{i}')")
        for slot in range(1, 5):
            await page.wait_for_selector(f".col:not(.pending) .card[data-state=running]:has-text('web.{slot}')")
        assert await page.locator("#summary [data-count=nodes] b").inner_text() == "3"
        await screenshot(page, "board")

        # a new service's tasks appear without a reload
        await m.control.create_service(swarm_spec("late", 2))
        await page.wait_for_selector(".col:not(.pending) .card[data-state=running]:has-text('late.2')")
        assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1

        # a Deployment's Pods are cards too (namespace/name), and its row shows ready replicas
        tmpl = PodTemplate(Labels={"app": "api"}, Spec=TaskSpec(Containers=[ContainerSpec(Name="api", Image="api:1")],
                                                                Pod=PodSpecExtra(RestartPolicy="Always")))
        dep = await m.kube.create(Deployment(ID="", Name="api", Namespace="default", Spec=DeploymentSpec(
            Replicas=2, Selector=LabelSelectorSpec(MatchLabels={"app": "api"}), Template=tmpl)))
        await page.wait_for_selector(".col:not(.pending) .card[data-state=running]:has-text('default/api-')")

        # a task no node can take: pending, with the reason, node by node
        await m.control.create_service(swarm_spec("huge", 1, cpus=64))
        card = page.locator(".col.pending .card:has-text('huge.1')")
        await card.wait_for()
        await page.wait_for_selector(".col.pending .card:has-text('no suitable node')")
        await card.click()
        reason = page.locator("#pending-reason")
        await reason.wait_for()
        assert "insufficient resources on 3 nodes" in await reason.inner_text()
        assert await page.locator("#rejections tbody tr").count() == 3
        assert "insufficient resources" in await page.locator("#rejections tbody tr >> nth=0").inner_text()
        await screenshot(page, "pending")
        await page.click("#detail-close")

        # a rollout shows its step
        cur = m.control.service(web.ID)
        spec = clone(cur.Spec)
        spec.TaskTemplate.Containers[0].Image = "hollow:2"
        await m.control.update_service(web.ID, cur.Version.Index, spec)
        await page.click("button[data-tab=workloads]")
        row = page.locator(f"tr[data-id='{web.ID}']")
        await page.wait_for_selector(f"tr[data-id='{web.ID}'] .step:text('1/4 updated')")
        assert "updating" in await row.inner_text()
        await page.wait_for_selector("#summary [data-count=rollouts] b:text-is('1')")
        await page.wait_for_selector(f"tr[data-id='{dep.ID}'] .replicas:text('2/2 running, 2 ready')")
        await screenshot(page, "rollout")

        # logged in, an action: scale "late" to 3 from the page
        await page.click("#login-btn")
        await page.fill("#login-token", s.daemon.ui_token())
        await page.click("#login-submit")
        await page.wait_for_selector("#login-btn:text('Log out')")
        late = next(w for w in m.control.services() if w.Spec.Name == "late")
        await page.wait_for_selector(f"tr[data-id='{late.ID}'] input[aria-label=replicas]")
        await page.fill(f"tr[data-id='{late.ID}'] input[aria-label=replicas]", "3")
        await page.click(f"tr[data-id='{late.ID}'] button:text('Scale')")
        await page.wait_for_selector(f"tr[data-id='{late.ID}'] .replicas:text('3/3 running')")

        # the events, live
        await page.click("button[data-tab=events]")
        await page.wait_for_selector("#event-list li:has-text('service create')")
        await screenshot(page, "events")
        await page.select_option("#event-type", "node")  # filtered on the server
        await page.wait_for_selector("#event-list li:has-text('node create')")
        assert await page.locator("#event-list li:has-text('service create')").count() == 0


async def test_fake_console_off_loopback_asks_for_the_login_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Served on 0.0.0.0 (reached here through 127.0.0.1 only): HTTPS with a certificate of the
    cluster's CA, and nothing but the login form until the token is given; then the board."""
    from shoal.frontdoor.ui import server as ui_server
    from shoal.manager.ca import new_root_ca
    from shoal.manager.kube.certs import issue_api_server_cert
    from tests.e2e.browser import chromium
    from tests.unit.helpers import until

    ca_pem, ca_key = new_root_ca()
    cert, key = issue_api_server_cert(ca_pem, ca_key, [])

    class Manager(FakeNode):
        def kube_serving(self) -> tuple[str, str, str]:
            return ca_pem, cert, key

    node = Manager(fake_console=sample_cluster(nodes=5, tasks_per_node=3, pending=1))
    monkeypatch.setattr(ui_server, "CHECK_PERIOD", 0.01)
    ui = UIServer(node, f"0.0.0.0:{free_port()}")
    await ui.start()
    try:
        await until(lambda: ui.serving.is_set(), timeout=10, what="the listener")
        async with chromium() as browser:
            context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            await page.goto(ui.url + "/")
            await page.wait_for_selector("dialog#login[open]")
            assert await page.locator(".card").count() == 0
            await page.fill("#login-token", "shoalui-1.1.00.ff")
            await page.click("#login-submit")
            await page.wait_for_selector("#login-error:text('invalid or expired token')")
            await page.fill("#login-token", node.ui_token())
            await page.click("#login-submit")
            await page.wait_for_selector("body[data-rendered='1']")
            await page.wait_for_selector(".col.pending .card:has-text('big.1')")
            cookies = await context.cookies()
            assert [(c["name"], c["httpOnly"], c["secure"], c["sameSite"]) for c in cookies] == [
                ("shoal_ui", True, True, "Strict")]
            await screenshot(page, "fake-https-login")
    finally:
        await ui.stop()
