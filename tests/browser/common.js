// Shared helpers of the browser scenarios (flow.js stays standalone: tests/api/browser.rs runs it).
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

// The widget's script tag of a preview page: { src, contact, key, origin }.
async function snippetOf(previewUrl) {
  const html = await (await fetch(previewUrl)).text();
  const tag = html.match(/<script[^>]*\/interact\/widget\.js[^>]*>/);
  if (!tag) throw new Error("no widget snippet on " + previewUrl);
  const a = (name) => (tag[0].match(new RegExp(name + '="([^"]*)"')) || [])[1];
  const src = new URL(a("src"), previewUrl).href;
  return { src, contact: a("data-contact"), key: a("data-key"), origin: new URL(src).origin };
}

// Runs axe-core inside the widget's shadow root; throws on any violation.
async function axe(page, label) {
  const source = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run({ include: [["[data-switchboard-chat]"]] }, { resultTypes: ["violations"] });
    return r.violations.map((v) => v.id + " (" + v.impact + "): " + v.help + " — " +
      v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target) + " " + (n.failureSummary || "").replace(/\s+/g, " ")).join(" | "));
  });
  if (violations.length) throw new Error("axe, " + label + ":\n  " + violations.join("\n  "));
  return violations;
}

// The widget's shadow root state: which element inside has focus, and whether the panel is open.
async function widgetState(page) {
  await page.waitForTimeout(150); // focus moves after the click's task
  return page.evaluate(() => {
    const host = document.querySelector("[data-switchboard-chat]");
    const root = host && host.shadowRoot;
    const panel = root && root.querySelector(".panel");
    const active = root && root.activeElement;
    return {
      mounted: !!root,
      open: !!panel && !panel.hidden,
      hostFocused: document.activeElement === host,
      active: active ? (active.getAttribute("aria-label") || active.id || active.tagName) : null,
      activeInPanel: !!(active && panel && panel.contains(active)),
      scrollY: window.scrollY,
      bodyFocused: document.activeElement === document.body,
    };
  });
}

async function startChat(page, question, name = "Ada") {
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Your email").fill("ada@example.com");
  if (question) await page.getByLabel("Your question (optional)").fill(question);
  await page.getByLabel(/I agree/).check();
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByRole("log").waitFor({ timeout: 15000 });
}

// A page of another origin: a loopback HTTP server answering every path with `html(path)`;
// resolves to { url, close }. (A page the browser makes up itself would be a public origin,
// which Chromium does not let load a loopback script.)
function servePage(html) {
  const http = require("http");
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html(req.url));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () =>
    resolve({ url: "http://localhost:" + server.address().port + "/", close: () => server.close() })));
}

// The customer ends the chat (so that a test leaves no chat waiting in the queue).
async function endChat(page) {
  await page.getByRole("button", { name: "End chat" }).click();
  await page.getByRole("status").getByText("The chat has ended.").waitFor({ timeout: 15000 });
}

function expect(condition, what) {
  if (!condition) throw new Error("expected: " + what);
}

// Runs a scenario: `node SCRIPT URL OUT_DIR`; exits non-zero on failure.
function run(name, scenario) {
  const [url, out] = process.argv.slice(2);
  if (!url || !out) {
    console.error("usage: node " + name + ".js PREVIEW_URL OUT_DIR");
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });
  const shot = (page, file) => page.screenshot({ path: path.join(out, file) });
  (async () => {
    const browser = await launch();
    try {
      await scenario({ browser, url, out, shot });
    } catch (e) {
      // The pages as they were at the failure, for whoever reads the log.
      let n = 0;
      for (const c of browser.contexts()) for (const p of c.pages()) await shot(p, name + "-failure-" + n++ + ".png").catch(() => {});
      throw e;
    } finally {
      await browser.close();
    }
    console.log(name + " passed");
  })().catch((e) => {
    console.error(name + " failed: " + (e && e.stack || e));
    process.exit(1);
  });
}

module.exports = { servePage, launch, snippetOf, axe, widgetState, startChat, endChat, expect, run };
