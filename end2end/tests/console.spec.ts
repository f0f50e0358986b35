import { expect, test, type APIRequestContext, type Page } from "@playwright/test";

// The console: commits × builds, paged, filtered by URL, live.
const token = process.env.CI_DASHBOARD_TOKEN!;
// A release branch: incidents open on it.
const BRANCH = `v3.${Date.now() % 1_000_000}`;
// Distinct short SHAs: each row reads apart.
const sha = (n: number) => String(n).padStart(4, "0") + "c0a5" + "0".repeat(32);
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

function build(n: number, component: string, arch: string, result: string, extra = {}) {
  return {
    commit: sha(n),
    parent: sha(n - 1),
    branch: BRANCH,
    component,
    arch,
    build_type: "bazel-build",
    result,
    started_at: at(600 - n * 5),
    finished_at: at(598 - n * 5),
    url: `https://ci.example/${n}/${component}/${arch}`,
    commit_title: `<img src=x onerror=alert(1)> change ${n}`,
    author: "dev",
    pr: 1000 + n,
    ...extra,
  };
}

async function post(request: APIRequestContext, data: unknown) {
  const resp = await request.post("/api/v1/builds", { headers: { Authorization: `Bearer ${token}` }, data });
  expect(resp.status(), await resp.text()).toBe(201);
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("dialog", (dialog) => {
    errors.push(`unexpected dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return errors;
}

// 55 commits: agw on both architectures, feg on amd64; agw arm64 breaks at
// commit 52 (three failures open an incident); commit 30's arm64 build
// failed, then passed a rerun.
test.beforeAll(async ({ request }) => {
  const data = [];
  for (let n = 1; n <= 55; n++) {
    data.push(build(n, "agw", "amd64", "pass"));
    data.push(build(n, "agw", "arm64", n >= 52 || n === 30 ? "fail" : "pass"));
    data.push(build(n, "feg", "amd64", "pass"));
  }
  data.push(build(30, "agw", "arm64", "pass", { id: `${BRANCH}-rerun-30`, started_at: at(440), finished_at: at(439) }));
  await post(request, data);
});

test("the console shows commits against builds, pages older, and hydrates", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto(`/console?branch=${BRANCH}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page).toHaveTitle(`${BRANCH} console · ci-dashboard`);
  const headers = page.locator(".console-grid thead tr");
  await expect(headers.nth(0)).toContainText("agw");
  await expect(headers.nth(0)).toContainText("feg");
  await expect(headers.nth(0).locator("th", { hasText: "agw" })).toHaveAttribute("colspan", "2");
  const rows = page.locator(".console-grid tbody tr");
  await expect(rows).toHaveCount(50);
  await expect(rows.first()).toHaveAttribute("data-commit", sha(55));
  await expect(rows.first()).toContainText("<img src=x onerror=alert(1)> change 55");
  // Colour and shape, and an accessible name that says it all.
  const failed = page.getByRole("link", { name: `agw bazel-build arm64 at ${sha(55).slice(0, 7)}: failed` });
  await expect(failed).toHaveText("✗");
  await expect(failed).toHaveAttribute("href", "https://ci.example/55/agw/arm64");
  // The incident three failures opened: its first bad commit and suspects.
  await expect(page.locator(`tr[data-commit="${sha(52)}"] td.mark-first-bad`)).toHaveCount(1);
  await expect(page.locator(".console-incidents")).toContainText("agw bazel-build arm64 broken since");

  // Commit 30 is on the next page: its reruns disagree.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
  await page.getByRole("link", { name: "Older commits →" }).click();
  await expect(page).toHaveURL(/before=/);
  await expect(rows).toHaveCount(5);
  await expect(rows.first()).toHaveAttribute("data-commit", sha(5));
  await page.getByRole("link", { name: "← Newest commits" }).click();
  await expect(rows).toHaveCount(50);
  const thirty = page.locator(`tr[data-commit="${sha(30)}"] td[data-disagree=true]`);
  await expect(thirty).toHaveCount(1);
  await expect(thirty.locator(".r")).toHaveCount(3);
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
  expect(errors).toEqual([]);
});

test("filters live in the URL and the form sets them", async ({ page }) => {
  await page.goto(`/console?branch=${BRANCH}&component=feg`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page.locator(".console-grid thead tr").nth(2).locator("th")).toHaveCount(1);
  await page.goto(`/console?branch=${BRANCH}`);
  await page.getByLabel("only failing columns").check();
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/only=failing/);
  const columns = page.locator(".console-grid thead tr").nth(2).locator("th");
  await expect(columns).toHaveCount(1);
  await expect(columns).toHaveAttribute("title", "agw bazel-build arm64");
});

test("a new commit's build inserts its row without a reload", async ({ page, request }) => {
  const errors = watchErrors(page);
  // A branch of its own, so the other tests' rows stay as they are.
  const branch = `${BRANCH}-live`;
  await post(request, build(1, "agw", "amd64", "pass", { branch }));
  await page.goto(`/console?branch=${branch}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page.locator("section.console[data-live=on]")).toBeVisible();
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  await post(request, build(2, "feg", "amd64", "fail", { branch, started_at: at(1), finished_at: at(0) }));
  const rows = page.locator(".console-grid tbody tr");
  await expect(rows.first()).toHaveAttribute("data-commit", sha(2), { timeout: 5000 });
  await expect(rows).toHaveCount(2);
  await expect(rows.first().locator('td[data-state="fail"]')).toHaveCount(1);
  // A rerun of a commit already shown joins its cell.
  await post(request, build(2, "feg", "amd64", "pass", { branch, id: `${branch}-rerun`, started_at: at(0), finished_at: at(0) }));
  await expect(rows.first().locator("td[data-disagree=true] .r")).toHaveCount(3, { timeout: 5000 });
  await expect(rows).toHaveCount(2);
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  expect(errors).toEqual([]);
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("the commit column stays visible while the grid scrolls", async ({ page }) => {
    await page.goto(`/console?branch=${BRANCH}`);
    await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const grid = page.locator(".console-scroll");
    await grid.evaluate((el) => (el.scrollLeft = el.scrollWidth));
    const commit = page.locator(".console-grid tbody tr").first().locator("th");
    const box = await commit.boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x).toBeLessThan(60);
  });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the server-rendered console filters by its form", async ({ page }) => {
    await page.goto(`/console?branch=${BRANCH}`);
    await page.getByLabel("Component").selectOption("feg");
    await page.getByRole("button", { name: "Apply" }).click();
    await expect(page).toHaveURL(/component=feg/);
    await expect(page.locator(".console-grid thead tr").nth(2).locator("th")).toHaveCount(1);
  });
});

test("a cell that stopped reporting shows as stale on the overview, the console and the release page", async ({ page, request }) => {
  const branch = `${BRANCH}-stale`;
  // A build every three hours until a day ago on arm64; amd64 reports on.
  const data = [];
  for (let i = 0; i < 5; i++) {
    const quiet = 24 * 60 + (4 - i) * 180;
    data.push(build(100 + i, "agw", "arm64", "pass", { branch, started_at: at(quiet), finished_at: at(quiet - 5) }));
    data.push(build(100 + i, "agw", "amd64", "pass", { branch, started_at: at(20 + i), finished_at: at(19 + i) }));
  }
  await post(request, data);
  await page.goto(`/?branch=${branch}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  const arm = page.locator('[data-cell="agw/arm64/bazel-build"]');
  await expect(arm).toHaveAttribute("data-stale", "true");
  await expect(arm).toContainText("stale: last build 1d ago");
  await expect(page.locator('[data-cell="agw/amd64/bazel-build"]')).not.toHaveAttribute("data-stale", "true");
  await page.goto(`/console?branch=${branch}`);
  const header = page.locator(".console-grid th.bt-col.stale");
  await expect(header).toHaveCount(1);
  await expect(header).toHaveAttribute("title", "agw bazel-build arm64");
  await expect(header).toContainText("stale: last build 1d ago");
  // A required cell of a release branch: its release page says so too.
  await page.goto(`/release?branch=${branch}`);
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
  await expect(page.locator(".stale-cells")).toContainText("agw bazel-build arm64: stale: last build 1d ago");
});
