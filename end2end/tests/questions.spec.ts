import { expect, test, type Page } from "@playwright/test";

const token = process.env.CI_DASHBOARD_TOKEN!;
const BASE = "c0ffee0" + "1".repeat(33);
const BROKE = "deadbee" + "2".repeat(33);

function build(commit: string, arch: string, result: string, minutesAgo: number, extra = {}) {
  const started = new Date(Date.now() - minutesAgo * 60_000);
  const finished = new Date(started.getTime() + 4 * 60_000);
  return {
    commit,
    branch: "v1.9",
    component: "orc8r",
    build_type: "unit-tests",
    arch,
    result,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    url: `https://ci.example/${commit}/${arch}`,
    commit_title: "<script>window.__xss = 1</script> Fix Vec<u8> parsing",
    pr: 4242,
    ...extra,
  };
}

test.beforeAll(async ({ request }) => {
  const resp = await request.post("/api/v1/builds", {
    headers: { Authorization: `Bearer ${token}` },
    data: [
      build(BASE, "amd64", "pass", 120),
      build(BASE, "arm64", "pass", 120),
      build(BROKE, "amd64", "pass", 60, { parent: BASE }),
      build(BROKE, "arm64", "fail", 60, { parent: BASE }),
    ],
  });
  expect(resp.status(), await resp.text()).toBe(201);
});

async function hydrated(page: Page) {
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
}

test("search a SHA, read the verdict, follow it to the history chart", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto("/");
  await hydrated(page);
  await page.getByLabel("Commit SHA or PR number").fill("deadbee");
  await page.getByRole("button", { name: "Find" }).click();
  await expect(page.locator(".headline")).toHaveText(
    "This commit broke orc8r unit-tests on arm64; 17 required builds missing",
  );
  await expect(page).toHaveTitle(/Commit deadbee/);
  await expect(page.locator('tr[data-verdict="new_failure"]')).toContainText("arm64");
  await expect(page.locator(".divergent")).toContainText("orc8r unit-tests fails on arm64 but passes on amd64");
  await expect(page.locator(".meta")).toContainText("<script>window.__xss = 1</script> Fix Vec<u8> parsing");

  await page.locator('tr[data-verdict="new_failure"]').getByRole("link", { name: "unit-tests" }).click();
  await expect(page).toHaveURL(/\/history\/orc8r\/arm64\/unit-tests\?branch=v1\.9$/);
  await expect(page.locator("h1")).toHaveText("orc8r unit-tests arm64 on v1.9");
  await expect(page.locator("figure.chart svg").first()).toBeVisible();
  await expect(page.locator("table.builds tbody tr")).toHaveCount(2);
  await page.getByRole("link", { name: "90 days" }).click();
  await expect(page).toHaveURL(/days=90/);
  await expect(page.locator(".tab.current")).toHaveText("90 days");

  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
  expect(errors).toEqual([]);
});

test("a PR number with several commits lists them", async ({ page }) => {
  await page.goto("/search?q=%234242");
  await expect(page.locator("h1")).toContainText("Several commits match");
  await expect(page.locator("ul.candidates li")).toHaveCount(2);
});

test("the release page says what blocks v1.9", async ({ page }) => {
  await page.goto("/releases");
  await hydrated(page);
  await page.getByRole("link", { name: "v1.9" }).click();
  await expect(page.locator("[data-ready]")).toHaveText("Not ready");
  await expect(page).toHaveTitle(/Release v1.9/);
  await expect(page.locator("textarea.markdown")).toHaveValue(/NOT READY/);
  await expect(page.locator("table.blockers")).toBeVisible();
});

test("the health report of v1.9 switches windows in place", async ({ page }) => {
  await page.goto("/report?branch=v1.9");
  await hydrated(page);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("CI health of v1.9");
  const arm = page.locator("table.report-cells tr", { hasText: "orc8r unit-tests arm64" });
  await expect(arm).toBeVisible();
  await expect(arm.locator("td").nth(1)).toHaveText(/%$/);
  await expect(page.locator("figure.chart svg")).toHaveCount(2);
  await page.getByRole("link", { name: "7 days" }).click();
  await expect(page).toHaveURL(/days=7/);
  await expect(page.locator(".tab.current")).toHaveText("7 days");
  await expect(page.locator("#markdown")).toHaveValue(/last 7 days/);
  // The router swapped the page in without a reload: still hydrated.
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
});

test("the commit page names the failing test and where it passes", async ({ page, request }) => {
  const commit = "7e57ed0" + "5".repeat(33);
  const resp = await request.post("/api/v1/builds", {
    headers: { Authorization: `Bearer ${token}` },
    data: [
      build(commit, "amd64", "pass", 30, { id: "e2e-tests-amd64", parent: BROKE }),
      build(commit, "arm64", "fail", 30, { id: "e2e-tests-arm64", parent: BROKE }),
    ],
  });
  expect(resp.status(), await resp.text()).toBe(201);
  const junit = (failing: boolean) =>
    `<testsuites><testsuite name="orc8r"><testcase classname="state" name="TestSync">` +
    (failing ? `<failure message="expected 3, got 2"/>` : "") +
    `</testcase><testcase classname="state" name="TestReport"/></testsuite></testsuites>`;
  for (const [id, failing] of [["e2e-tests-amd64", false], ["e2e-tests-arm64", true]] as const) {
    const upload = await request.post(`/api/v1/builds/${id}/tests`, {
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/xml" },
      data: junit(failing),
    });
    expect(upload.status(), await upload.text()).toBe(201);
  }
  await page.goto(`/commit/${commit}`);
  await hydrated(page);
  const failingTests = page.getByRole("list", { name: "Failing tests of orc8r unit-tests arm64" });
  await expect(failingTests).toContainText("state::TestSync");
  await expect(failingTests).toContainText("new failure");
  await expect(failingTests).toContainText("expected 3, got 2");
  await expect(page.locator("tr[data-verdict] td.tests").first()).toContainText("passed");
  await expect(page.locator("section.divergent")).toContainText(
    "state::TestSync fails on arm64 but passes on amd64 (orc8r unit-tests)",
  );
  // The overview's cells show their latest build's test counts.
  await page.goto("/?branch=v1.9");
  await hydrated(page);
  await expect(page.locator('[data-cell="orc8r/arm64/unit-tests"] .tests')).toHaveText("1 of 2 tests failed");
  await expect(page.locator('[data-cell="orc8r/amd64/unit-tests"] .tests')).toHaveText("2 tests passed");
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("the commit page's verdicts fit 390 px: no column is cut off", async ({ page, request }) => {
    const commit = "f17f17f" + "6".repeat(33);
    const resp = await request.post("/api/v1/builds", {
      headers: { Authorization: `Bearer ${token}` },
      data: ["amd64", "arm64"].map((arch) =>
        build(commit, arch, "fail", 20, { id: `e2e-phone-${arch}`, parent: BROKE, build_type: "lte-integ-test" }),
      ),
    });
    expect(resp.status(), await resp.text()).toBe(201);
    for (const arch of ["amd64", "arm64"]) {
      const upload = await request.post(`/api/v1/builds/e2e-phone-${arch}/tests`, {
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/xml" },
        data:
          `<testsuite name="lte"><testcase classname="s1aptests.test_attach_detach_with_long_name" name="test_attach_detach">` +
          `<failure message="timed out waiting for the UE to attach"/></testcase>` +
          `<testcase classname="s1aptests.test_ok" name="test_ok"/></testsuite>`,
      });
      expect(upload.status(), await upload.text()).toBe(201);
    }
    await page.goto(`/commit/${commit}`);
    await hydrated(page);
    const cells = page.locator("table.verdicts tr[data-verdict] td");
    await expect(cells.first()).toBeVisible();
    const count = await cells.count();
    expect(count).toBeGreaterThanOrEqual(12);
    for (let i = 0; i < count; i++) {
      const box = await cells.nth(i).boundingBox();
      expect(box, `cell ${i}`).not.toBeNull();
      expect(box!.x + box!.width, `cell ${i}: ${await cells.nth(i).innerText()}`).toBeLessThanOrEqual(390);
    }
    const mine = page
      .locator("tr[data-verdict]")
      .filter({ hasText: "orc8r" })
      .filter({ hasText: "lte-integ-test" })
      .first();
    await expect(mine.locator("td.links")).toContainText("logs");
    await expect(mine.locator("td.tests")).toContainText("1 passed, 1 failed");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});

test("a flaky test leads to its history on each architecture", async ({ page, request }) => {
  for (let n = 0; n < 4; n++) {
    const commit = "f1a4e" + String(n).padStart(35, "0");
    const id = `e2e-flaky-${n}`;
    const resp = await request.post("/api/v1/builds", {
      headers: { Authorization: `Bearer ${token}` },
      data: { ...build(commit, "arm64", n % 2 ? "pass" : "fail", 40 - n), id, component: "flapper" },
    });
    expect(resp.status(), await resp.text()).toBe(201);
    const failure = n % 2 ? "" : `<failure message="flapped"/>`;
    const upload = await request.post(`/api/v1/builds/${id}/tests`, {
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/xml" },
      data: `<testsuite name="go"><testcase classname="flap" name="TestFlap">${failure}</testcase></testsuite>`,
    });
    expect(upload.status(), await upload.text()).toBe(201);
  }
  await page.goto("/flaky?branch=v1.9&days=7");
  await hydrated(page);
  const row = page.locator("table.flaky-tests tr", { hasText: "flap::TestFlap" });
  await expect(row).toContainText("100%");
  await row.getByRole("link", { name: "flap::TestFlap" }).click();
  await expect(page).toHaveURL(/\/test\/flapper\/unit-tests\?branch=v1\.9&name=flap%3A%3ATestFlap/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("flap::TestFlap");
  await expect(page.getByRole("region", { name: "On arm64" })).toContainText("4 runs");
  await expect(page.locator("table.test-runs tbody tr")).toHaveCount(4);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
});

// Twelve runs in which a test failed twice, then a build failing only in
// it: the dashboard shows a flaky failure, not a breakage.
async function flakyHistory(request: import("@playwright/test").APIRequestContext, component: string, branch: string) {
  const commit = (n: number) => "f1a6" + component.slice(0, 2).replace(/[^0-9a-f]/g, "0") + String(n).padStart(34, "0");
  for (let n = 0; n < 13; n++) {
    const failing = n === 2 || n === 7 || n === 12;
    const id = `e2e-${component}-${n}`;
    const resp = await request.post("/api/v1/builds", {
      headers: { Authorization: `Bearer ${token}` },
      data: { ...build(commit(n), "amd64", failing ? "fail" : "pass", 200 - n), id, component, branch, parent: n ? commit(n - 1) : undefined },
    });
    expect(resp.status(), await resp.text()).toBe(201);
    const failure = failing ? `<failure message="timed out"/>` : "";
    const upload = await request.post(`/api/v1/builds/${id}/tests`, {
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/xml" },
      data: `<testsuite name="go"><testcase classname="s1ap" name="TestAttach">${failure}</testcase><testcase classname="s1ap" name="TestOk"/></testsuite>`,
    });
    expect(upload.status(), await upload.text()).toBe(201);
  }
  return commit(12);
}

test("a failure only in a flaky test shows apart: overview, commit page, badge", async ({ page, request }) => {
  const last = await flakyHistory(request, "flakes", "v1.9");
  await page.goto("/?branch=v1.9");
  await hydrated(page);
  const cell = page.locator('[data-cell="flakes/amd64/unit-tests"]');
  await expect(cell).toHaveAttribute("data-status", "flaky");
  await expect(cell).toContainText("flaky failure");
  await expect(cell).toContainText("1 of 2 tests failed, all flaky");
  await page.goto(`/commit/${last}`);
  await hydrated(page);
  const row = page.locator('tr[data-verdict="flaky_failure"]', { hasText: "flakes" });
  await expect(row).toContainText("flaky failure");
  const tests = page.getByRole("list", { name: "Failing tests of flakes unit-tests amd64" });
  await expect(tests).toContainText("s1ap::TestAttach");
  await expect(tests).toContainText("flaky");
  const badge = await request.get("/badge.svg?branch=v1.9&component=flakes");
  expect(await badge.text()).toContain(">passing</text>");
});
