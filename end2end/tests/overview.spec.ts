import { expect, test, type APIRequestContext, type Page } from "@playwright/test";

const token = process.env.CI_DASHBOARD_TOKEN!;

function sha(seed: number): string {
  return seed.toString(16).padStart(40, "0");
}

function build(fields: Record<string, unknown>) {
  const started = new Date(Date.now() - 30 * 60_000);
  const finished = new Date(Date.now() - 10 * 60_000);
  return {
    branch: "master",
    component: "agw",
    build_type: "bazel-build",
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    url: "https://github.com/magma/magma/actions/runs/1",
    commit_title: "<img src=x onerror=alert(1)> Fix Vec<u8> parsing",
    ...fields,
  };
}

async function post(request: APIRequestContext, body: unknown) {
  const resp = await request.post("/api/v1/builds", {
    headers: { Authorization: `Bearer ${token}` },
    data: body,
  });
  expect(resp.status(), await resp.text()).toBe(201);
}

/** Fails the test on any console error or uncaught page error. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("dialog", (dialog) => {
    errors.push(`unexpected dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return errors;
}

test.beforeAll(async ({ request }) => {
  await post(request, [
    build({ commit: sha(1), arch: "amd64", result: "success" }),
    build({ commit: sha(1), arch: "aarch64", result: "failure" }),
    build({ commit: sha(2), branch: "v1.8", arch: "arm64", result: "pass" }),
    build({ commit: sha(2), branch: "v1.8", arch: "amd64", result: "pass" }),
  ]);
});

test("overview shows the matrix and switches branch after hydration", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/");
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page).toHaveTitle("master health · ci-dashboard");

  const arm = page.locator('[data-cell="agw/arm64/bazel-build"]');
  await expect(arm).toHaveAttribute("data-status", "fail");
  await expect(arm).toContainText("failing");
  await expect(arm).toContainText("failing since 0000000, 1 build");
  await expect(arm.getByRole("link", { name: "logs" })).toHaveAttribute(
    "href",
    "https://github.com/magma/magma/actions/runs/1",
  );
  await expect(page.locator('[data-cell="agw/amd64/bazel-build"]')).toHaveAttribute("data-status", "pass");
  await expect(page.locator(".summary")).toContainText("arm64: 1 of 1 red");
  await expect(page.locator(".summary")).toContainText("amd64: all 1 green");

  // A client-side navigation keeps this marker; a full reload would drop it.
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.getByLabel("Branch").selectOption("v1.8");
  await expect(page).toHaveURL(/\?branch=v1\.8$/);
  await expect(page.locator("h1")).toContainText("v1.8");
  await expect(page.locator('[data-cell="agw/arm64/bazel-build"]')).toHaveAttribute("data-status", "pass");
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  await expect(page).toHaveTitle("v1.8 health · ci-dashboard");

  await page.goBack();
  await expect(page.locator('[data-cell="agw/arm64/bazel-build"]')).toHaveAttribute("data-status", "fail");
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the server-rendered page works and the branch form submits", async ({ page }) => {
    await page.goto("/");
    await expect(page.locator('[data-cell="agw/arm64/bazel-build"]')).toHaveAttribute("data-status", "fail");
    await page.getByLabel("Branch").selectOption("v1.8");
    await page.getByRole("button", { name: "Show" }).click();
    await expect(page).toHaveURL(/\?branch=v1\.8$/);
    await expect(page.locator('[data-cell="agw/arm64/bazel-build"]')).toHaveAttribute("data-status", "pass");
  });
});

test("an unknown page is a 404 with a way back", async ({ page }) => {
  const resp = await page.goto("/nowhere");
  expect(resp?.status()).toBe(404);
  await expect(page.getByRole("link", { name: "Back to the overview" })).toBeVisible();
});

test("an open overview turns a cell red when a failure is posted, without a reload", async ({
  page,
  request,
}) => {
  const errors = watchErrors(page);
  const branch = `live-${Date.now()}`;
  await post(request, build({ commit: sha(30), branch, component: "feg", arch: "amd64", result: "pass" }));
  await page.goto(`/?branch=${branch}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page.locator("section.overview[data-live=on]")).toBeVisible();
  const cell = page.locator('[data-cell="feg/amd64/bazel-build"]');
  await expect(cell).toHaveAttribute("data-status", "pass");
  // A reload would drop this marker.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

  const now = new Date().toISOString();
  await post(request, {
    ...build({ commit: sha(31), branch, component: "feg", arch: "amd64", result: "fail" }),
    started_at: now,
    finished_at: now,
  });
  await expect(cell).toHaveAttribute("data-status", "fail", { timeout: 3000 });
  await expect(cell).toContainText("failing since");
  // A component the page has never seen gets its own row.
  await post(request, build({ commit: sha(31), branch, component: "nms", arch: "arm64", result: "pass" }));
  await expect(page.locator('[data-cell="nms/arm64/bazel-build"]')).toHaveAttribute("data-status", "pass", {
    timeout: 3000,
  });
  await expect(page.locator(".summary [data-arch=amd64]")).toHaveText("amd64: 1 of 1 red");
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  expect(errors).toEqual([]);
});

test("a branch named with / + # and % links to its history and release pages", async ({ page, request }) => {
  const errors = watchErrors(page);
  const branch = "v2.0/hotfix+arm#1%2F";
  await post(request, build({ commit: sha(40), branch, arch: "arm64", result: "fail" }));
  await page.goto(`/?branch=${encodeURIComponent(branch)}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page.locator("h1")).toContainText(branch);
  const cell = page.locator('[data-cell="agw/arm64/bazel-build"]');
  await expect(cell).toHaveAttribute("data-status", "fail");
  await cell.getByRole("link", { name: "bazel-build" }).click();
  await expect(page).toHaveURL(/\/history\/agw\/arm64\/bazel-build\?branch=v2\.0%2Fhotfix%2Barm%231%252F$/);
  await expect(page.locator("h1")).toHaveText(`agw bazel-build arm64 on ${branch}`);
  await expect(page.locator("table.builds tbody tr")).toHaveCount(1);
  // The same page loaded directly, not through the client-side router.
  await page.reload();
  await expect(page.locator("h1")).toHaveText(`agw bazel-build arm64 on ${branch}`);
  await page.goto("/releases");
  await page.getByRole("link", { name: branch }).click();
  await expect(page.locator("h1")).toContainText(branch);
  await expect(page.locator(".headline")).toContainText("Not ready");
  expect(errors).toEqual([]);
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("the overview fits 390 px: every architecture is visible without sideways scrolling", async ({ page }) => {
    await page.goto("/");
    await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
    const arm = page.locator('[data-cell="agw/arm64/bazel-build"]');
    await arm.scrollIntoViewIfNeeded();
    const box = await arm.boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await expect(page.locator('td[data-arch="arm64"]').first()).toBeVisible();
  });
});

test("three failures in a row freeze a release branch, and the overview says so at the top", async ({
  page,
  request,
}) => {
  const errors = watchErrors(page);
  const branch = `v9.${Date.now() % 100000}`;
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  await post(request, build({ commit: sha(50), branch, arch: "arm64", result: "pass", started_at: at(40), finished_at: at(39) }));
  for (const [i, commit] of [51, 52, 53].entries()) {
    await post(
      request,
      build({
        commit: sha(commit),
        parent: sha(commit - 1),
        branch,
        arch: "arm64",
        result: "fail",
        started_at: at(30 - i),
        finished_at: at(29 - i),
      }),
    );
  }
  const freeze = await (await request.get(`/api/v1/freeze?branch=${encodeURIComponent(branch)}`)).json();
  expect(freeze.frozen).toBe(true);
  await page.goto(`/?branch=${branch}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  const banner = page.locator("section.freeze");
  await expect(banner.getByRole("heading")).toHaveText("Merge freeze: 1 open incident");
  await expect(banner).toContainText("agw bazel-build arm64 failing since 0000000, 1 suspect commit");
  await banner.getByRole("link", { name: "agw bazel-build arm64" }).click();
  await expect(page).toHaveURL(new RegExp(`/incident/${freeze.incidents[0]}$`));
  await expect(page.locator("h1")).toHaveText(`Incident on ${branch}`);
  await expect(page.locator(".headline")).toHaveText(`Open: ${branch} is frozen`);
  await expect(page.locator(".suspects li")).toHaveCount(1);
  await page.locator(".suspects").getByRole("link", { name: "0000000" }).click();
  await expect(page).toHaveURL(new RegExp(`/commit/${sha(51)}$`));
  await expect(page.locator("section.freeze")).toContainText("Suspect of an open incident");
  await expect(page.locator("section.freeze")).toContainText(`agw bazel-build arm64 failing on ${branch}`);
  expect(errors).toEqual([]);
});

test("an open overview shows the freeze banner when an incident opens, without a reload", async ({ page, request }) => {
  const errors = watchErrors(page);
  const branch = `v8.${Date.now() % 100000}`;
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  const fail = (n: number) =>
    build({ commit: sha(60 + n), branch, arch: "amd64", result: "fail", started_at: at(20 - n), finished_at: at(19 - n) });
  await post(request, build({ commit: sha(60), branch, arch: "amd64", result: "pass", started_at: at(30), finished_at: at(29) }));
  await post(request, [fail(1), fail(2)]);
  await page.goto(`/?branch=${branch}`);
  await expect(page.locator("section.overview[data-live=on]")).toBeVisible();
  await expect(page.locator("section.freeze")).toHaveCount(0);
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
  await post(request, fail(3));
  await expect(page.locator("section.freeze h2")).toHaveText("Merge freeze: 1 open incident", { timeout: 5000 });
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
  expect(errors).toEqual([]);
});
