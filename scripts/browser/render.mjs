// Loads a page in headless Chromium and prints one JSON line: the page title, the length of its visible
// text, console messages, uncaught page errors, failed requests, and every URL it requested.
// Usage: node render.mjs URL SCREENSHOT.png   (CHROMIUM overrides /usr/bin/chromium)
import { chromium } from "playwright-core";

const [url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error("usage: node render.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const report = { console: [], pageErrors: [], failed: [], requests: [] };
  page.on("console", (m) => report.console.push({ type: m.type(), text: m.text() }));
  page.on("pageerror", (e) => report.pageErrors.push(String(e)));
  page.on("request", (r) => report.requests.push(r.url()));
  page.on("requestfailed", (r) => report.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  const response = await page.goto(url, { waitUntil: "networkidle" });
  report.status = response ? response.status() : null;
  report.title = await page.title();
  report.textLength = await page.evaluate(() => document.body.innerText.length);
  report.svgCount = await page.evaluate(() => document.querySelectorAll("svg").length);
  await page.screenshot({ path: out, fullPage: true });
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
