import { expect, test } from "@playwright/test";

// Free text is legitimate data ("Fix Vec<u8> parsing") and is stored as
// sent; every page must show it as text and never run it.
const token = process.env.CI_DASHBOARD_TOKEN!;
const SHA = "bad0c0de" + "3".repeat(32);
const BRANCH = "v6<svg/onload=window.__pwned=1>";
const PLAIN = "hostile-check";
const TITLE = `<img src=x onerror="window.__pwned=1"> Fix Vec<u8> parsing`;

test.beforeAll(async ({ request }) => {
  const now = Date.now();
  const build = (branch: string, arch: string, result: string) => ({
    commit: SHA,
    branch,
    component: "lte",
    build_type: "xss-check",
    arch,
    result,
    started_at: new Date(now - 20 * 60_000).toISOString(),
    finished_at: new Date(now - 5 * 60_000).toISOString(),
    url: "https://ci.example/run?a=1&b=<script>",
    commit_title: TITLE,
    author: "<script>window.__pwned=1</script>",
    runner: `"><svg onload=window.__pwned=1>`,
    version: "<b>1.9</b>",
  });
  const resp = await request.post("/api/v1/builds", {
    headers: { Authorization: `Bearer ${token}` },
    // Branches of their own, so other specs' matrices stay as they expect.
    data: [build(PLAIN, "arm64", "fail"), build(BRANCH, "amd64", "fail"), build(BRANCH, "arm64", "pass")],
  });
  expect(resp.status(), await resp.text()).toBe(201);
});

const pages = [
  "/",
  `/?branch=${PLAIN}`,
  `/?branch=${encodeURIComponent(BRANCH)}`,
  `/commit/${SHA}`,
  `/search?q=${SHA.slice(0, 10)}`,
  `/history/lte/arm64/xss-check?branch=${PLAIN}`,
  "/releases",
  `/release?branch=${encodeURIComponent(BRANCH)}`,
];

for (const path of pages) {
  test(`no injected script runs on ${path}`, async ({ page }) => {
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const resp = await page.goto(path);
    expect(resp?.status()).toBe(200);
    await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
    await page.waitForLoadState("networkidle");
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    // Injected markup never becomes elements.
    expect(await page.locator("main img[src=x], main svg[onload]").count()).toBe(0);
  });
}

test("free text is shown as sent, escaped", async ({ page }) => {
  await page.goto(`/commit/${SHA}`);
  await expect(page.getByText(TITLE).first()).toBeVisible();
});
