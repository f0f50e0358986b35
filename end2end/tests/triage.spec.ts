import { expect, test, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Triage end to end: a flaky test is quarantined, `ci-dashboard gate`
// passes a job whose only failure is that test and fails one with another
// failure; a known-issue rule makes the commit page show the failure under
// its reason with the issue's link; the incident is acknowledged and its
// timeline says by whom.

const token = process.env.CI_DASHBOARD_TOKEN!;
const bin = process.env.CI_DASHBOARD_BIN;
const auth = { Authorization: `Bearer ${token}` };
const BRANCH = `v7.${Date.now() % 100000}`;
const CELL = { branch: BRANCH, component: "lte", arch: "amd64", build_type: "integ-test" };
const commit = (n: number) => `7a1a9e${n}`.padEnd(40, "0");

function junit(failing: string[]): string {
  const cases = ["test_attach", "test_paging", "test_detach"]
    .map((name) =>
      failing.includes(name)
        ? `<testcase classname="s1ap" name="${name}"><failure message="Timeout after ${name.length}s waiting for ${name}: UE 0010100000${name.length}"/></testcase>`
        : `<testcase classname="s1ap" name="${name}"/>`,
    )
    .join("");
  return `<?xml version="1.0"?><testsuite name="pytest">${cases}</testsuite>`;
}

async function hydrated(page: Page) {
  await expect(page.locator("main[data-hydrated=true]")).toBeVisible();
}

test("quarantine, gate, known issue and acknowledgement", async ({ page, request, baseURL }) => {
  expect(bin, "scripts/test passes the binary as CI_DASHBOARD_BIN").toBeTruthy();
  const quarantined = await request.post("/api/v1/quarantine", {
    headers: auth,
    data: { ...CELL, name: "s1ap::test_paging", reason: "flaky: fails one run in ten" },
  });
  expect(quarantined.status(), await quarantined.text()).toBe(201);

  // Three builds in a row fail in both tests: only test_attach is a breakage.
  for (const n of [1, 2, 3]) {
    const started = new Date(Date.now() - (10 - n) * 60 * 60_000);
    const posted = await request.post("/api/v1/builds", {
      headers: auth,
      data: {
        ...CELL,
        commit: commit(n),
        result: "fail",
        started_at: started.toISOString(),
        finished_at: new Date(started.getTime() + 20 * 60_000).toISOString(),
      },
    });
    expect(posted.status(), await posted.text()).toBe(201);
    const id = (await posted.json()).ids[0];
    const uploaded = await request.post(`/api/v1/builds/${id}/tests`, {
      headers: { ...auth, "Content-Type": "application/xml" },
      data: junit(["test_attach", "test_paging"]),
    });
    expect(uploaded.status(), await uploaded.text()).toBe(201);
  }

  // The gate reads the job's own files against the quarantine.
  const dir = mkdtempSync(join(tmpdir(), "gate-"));
  const gate = (failing: string[]) => {
    const file = join(dir, `${failing.join("-")}.xml`);
    writeFileSync(file, junit(failing));
    const args = ["gate", "--server", baseURL!, "--junit", file, "--branch", BRANCH];
    args.push("--component", "lte", "--arch", "amd64", "--build-type", "integ-test");
    try {
      return { code: 0, out: execFileSync(bin!, args, { encoding: "utf8", stdio: "pipe" }) };
    } catch (e: any) {
      return { code: e.status as number, out: `${e.stdout}${e.stderr}` };
    }
  };
  const onlyQuarantined = gate(["test_paging"]);
  expect(onlyQuarantined.code, onlyQuarantined.out).toBe(0);
  expect(onlyQuarantined.out).toContain("every failing test is quarantined: s1ap::test_paging");
  const another = gate(["test_paging", "test_detach"]);
  expect(another.code, another.out).toBe(1);
  expect(another.out).toContain("failing, not quarantined: s1ap::test_detach");

  // A known-issue rule: the commit page shows the failure under its reason,
  // with the issue's link.
  const rule = await request.post("/api/v1/known-issues", {
    headers: auth,
    data: { url: "https://github.com/magma/magma/issues/1234", test: "s1ap::test_attach" },
  });
  expect(rule.status(), await rule.text()).toBe(201);
  await page.goto(`/commit/${commit(3)}`);
  await hydrated(page);
  const tests = page.getByRole("list", { name: "Failing tests of lte integ-test amd64" });
  const reason = tests.locator("li.reason", { hasText: "s1ap::test_attach" });
  await expect(reason.locator(".reason-text")).toHaveText("Timeout after <n>s waiting for test_attach: UE <n>");
  const known = reason.getByRole("link", { name: "known: #1234" });
  await expect(known).toHaveAttribute("href", "https://github.com/magma/magma/issues/1234");
  await expect(tests.locator("li", { hasText: "s1ap::test_paging" }).locator(".pill.quarantined")).toBeVisible();

  // The incident names test_attach alone; acknowledged, its timeline says who.
  const listed = await (await request.get(`/api/v1/incidents?branch=${BRANCH}`)).json();
  expect(listed.incidents).toHaveLength(1);
  const incident = listed.incidents[0];
  expect(incident.red_tests.map((t: any) => t.name)).toEqual(["s1ap::test_attach"]);
  const acked = await request.post(`/api/v1/incidents/${incident.id}/ack`, {
    headers: auth,
    data: { note: "on it", assignee: "alice", issue_url: "https://github.com/magma/magma/issues/1234" },
  });
  expect(acked.status(), await acked.text()).toBe(200);
  await page.goto(`/incident/${incident.id}`);
  await hydrated(page);
  await expect(page.locator(".on-it")).toContainText("On it: alice (acknowledged by e2e");
  const timeline = page.locator("ul.timeline");
  await expect(timeline).toContainText("Acknowledged: on it by e2e");
  await expect(timeline).toContainText("Assigned to alice by e2e");
  await expect(page.locator("ul.incident-tests")).toContainText("known: #1234");
});
