// First page load in headless Chromium: bytes transferred per resource type
// (as sent on the wire, compressed) and time until the WASM app has
// hydrated the page. Usage: node bench/page-load.mjs http://127.0.0.1:PORT/
import { chromium } from "@playwright/test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const url = process.argv[2];
const runs = 5;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" });
const results = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const types = new Map();
  const bytes = {};
  cdp.on("Network.responseReceived", (e) => types.set(e.requestId, e.response.mimeType));
  cdp.on("Network.loadingFinished", (e) => {
    const type = types.get(e.requestId) ?? "other";
    bytes[type] = (bytes[type] ?? 0) + e.encodedDataLength;
  });
  const started = Date.now();
  await page.goto(url);
  const html = Date.now() - started;
  await page.locator("main[data-hydrated=true]").waitFor();
  const interactive = Date.now() - started;
  await page.waitForLoadState("networkidle");
  results.push({ html, interactive, bytes });
  await context.close();
}
await browser.close();

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const last = results[results.length - 1].bytes;
const total = Object.values(last).reduce((a, b) => a + b, 0);
const pkg = new URL("../../target/site/pkg/", import.meta.url);
// The newest build's file (older, differently hashed ones may linger).
const wasmName = readdirSync(pkg)
  .filter((f) => f.endsWith(".wasm"))
  .sort((a, b) => statSync(new URL(b, pkg)).mtimeMs - statSync(new URL(a, pkg)).mtimeMs)[0];
const wasm = readFileSync(new URL(wasmName, pkg));
const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
console.log(`| first load, median of ${runs} | value |`);
console.log("|---|---|");
console.log(`| load event (ms) | ${median(results.map((r) => r.html))} |`);
console.log(`| time to interactive: page hydrated (ms) | ${median(results.map((r) => r.interactive))} |`);
for (const [type, n] of Object.entries(last).sort()) console.log(`| bytes on the wire: ${type} | ${kb(n)} |`);
console.log(`| bytes on the wire: total | ${kb(total)} |`);
console.log(`| WASM file raw | ${kb(wasm.length)} |`);
console.log(`| WASM gzip -9 | ${kb(gzipSync(wasm, { level: 9 }).length)} |`);
console.log(
  `| WASM brotli q11 | ${kb(brotliCompressSync(wasm, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length)} |`,
);
