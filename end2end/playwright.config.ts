import { defineConfig } from "@playwright/test";

// scripts/test starts a fresh server and passes its address and a token.
const baseURL = process.env.BASE_URL;
if (!baseURL || !process.env.CI_DASHBOARD_TOKEN) {
  throw new Error("run the browser tests through scripts/test (BASE_URL and CI_DASHBOARD_TOKEN unset)");
}

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
