// Usage: node states.js PREVIEW_URL OUT_DIR
// The widget's configuration and words, on pages of another origin (served by this script),
// with GET .../widget mocked: a wrong contact (no launcher, one console.error naming the code);
// an older server without the endpoint (404 not_found: defaults); nobody available with
// offline messages (the "Leave a message" form, its errors, sent: the offline-messages POST is
// mocked while the server answers it 404 not_found) and without (a closed note); the words in
// German (data-lang), French (<html lang>), Italian (navigator.language); data-position left;
// a light accent (data-color) gets dark text; data-theme="dark" over a light system.
// Screenshots in OUT_DIR: states-*.png. Needs no agent.
const { servePage, snippetOf, axe, expect, run } = require("./common");

const WIDGET = "**/api/interact/v1/contacts/*/widget?*";
const base = { title: "Acme Support", greeting: null, accentColor: null, position: "right", logoUrl: null, repliesIn: null,
  available: true, offlineMessages: false, survey: false, uploads: null };

run("states", async ({ browser, url, shot }) => {
  const s = await snippetOf(url);
  let lang = "", attrs = "";
  const site = await servePage(() => `<!doctype html><html ${lang}><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1><div id="switchboard-chat"></div>
<script src="${s.src}" data-contact="${s.contact}" data-key="${s.key}" ${attrs} async></script></body></html>`);
  async function open(config, options = {}) {
    const context = await browser.newContext(Object.assign({ viewport: { width: 1280, height: 800 } }, options));
    if (config) {
      await context.route(WIDGET, (r) => r.fulfill(config.status ? { status: config.status, contentType: "application/problem+json", body: JSON.stringify(config.body) }
        : { contentType: "application/json", body: JSON.stringify(Object.assign({}, base, config)) }));
    }
    await context.route("**/api/interact/v1/contacts/*/offline-messages", async (route) => {
      const real = await route.fetch();
      let code = null;
      try { code = JSON.parse(await real.text()).code; } catch (_) { /* not JSON */ }
      if (real.status() === 404 && code === "not_found") return route.fulfill({ status: 201, contentType: "application/json", body: '{"id":"o1"}' });
      return route.fulfill({ response: real });
    });
    const page = await context.newPage();
    const logs = [];
    page.on("console", (m) => m.type() === "error" && m.text().startsWith("Switchboard chat") && logs.push(m.text()));
    page.on("pageerror", (e) => logs.push("pageerror " + e.message));
    await page.goto(site.url);
    return { page, logs, context };
  }

  // A wrong contact: nothing shown, one error for the site owner.
  let { page, logs, context } = await open({ status: 404, body: { code: "unknown_contact", detail: "no such contact" } });
  await page.waitForTimeout(1500);
  expect(!(await page.evaluate(() => document.querySelector("[data-switchboard-chat]"))), "no widget for a wrong contact");
  expect(logs.length === 1 && logs[0].includes("unknown_contact"), "one console.error with the code: " + logs);
  await context.close();

  // An older server (404 not_found): defaults.
  ({ page, logs, context } = await open({ status: 404, body: { code: "not_found" } }));
  await page.getByRole("button", { name: "Open chat" }).click();
  await page.getByRole("heading", { name: "Chat with us" }).waitFor();
  await page.getByRole("button", { name: "Start chat" }).waitFor();
  await context.close();

  // Nobody available, offline messages on.
  ({ page, logs, context } = await open({ available: false, offlineMessages: true, greeting: "Hello!" }));
  await page.getByRole("button", { name: "Open chat" }).click();
  await page.getByRole("heading", { name: "Leave us a message" }).waitFor();
  await page.getByRole("button", { name: "Send message" }).click();
  await page.getByText("Please enter your name.").waitFor();
  await page.getByLabel("Your name").fill("Ada");
  await page.getByLabel("Your email").fill("ada@example.com");
  await page.getByRole("button", { name: "Send message" }).click();
  await page.getByText("Please write your message.").waitFor();
  await page.getByRole("textbox", { name: "Message", exact: true }).fill("Please call me back about order 1234.");
  await page.getByLabel(/I agree/).check();
  await shot(page, "states-offline-form.png");
  await axe(page, "offline form");
  await page.getByRole("button", { name: "Send message" }).click();
  await page.getByText("Thank you! We received your message").waitFor({ timeout: 10000 });
  await shot(page, "states-offline-sent.png");
  expect(!logs.length, "no errors: " + logs);
  await context.close();

  // Nobody available, no offline messages.
  ({ page, context } = await open({ available: false }));
  await page.getByRole("button", { name: "Open chat" }).click();
  await page.getByText("Nobody is available right now. Please come back later.").waitFor();
  await context.close();

  // Words: data-lang, then <html lang>, then navigator.language.
  attrs = 'data-lang="de"'; lang = 'lang="fr"';
  ({ page, context } = await open(base));
  await page.getByRole("button", { name: "Chat öffnen" }).click();
  await page.getByLabel("Ihr Name").waitFor();
  await page.getByRole("button", { name: "Chat starten" }).click();
  await page.getByText("Bitte geben Sie Ihren Namen ein.").waitFor();
  await shot(page, "states-german.png");
  await context.close();
  attrs = "";
  ({ page, context } = await open(base));
  await page.getByRole("button", { name: "Ouvrir le chat" }).click();
  await page.getByRole("button", { name: "Démarrer le chat" }).waitFor();
  await context.close();
  lang = "";
  ({ page, context } = await open(base, { locale: "it-IT" }));
  await page.getByRole("button", { name: "Apri la chat" }).click();
  await page.getByLabel("Il tuo nome").waitFor();
  await context.close();

  // Position, a light accent, a forced dark theme.
  attrs = 'data-position="left" data-color="#ffd54f" data-theme="dark" data-title="Tea Help"';
  ({ page, context } = await open({ accentColor: "#123456" }, { colorScheme: "light" }));
  const launcher = page.getByRole("button", { name: "Open chat" });
  const box = await launcher.boundingBox();
  expect(box.x < 100, "the launcher on the left: " + box.x);
  expect(await launcher.evaluate((b) => getComputedStyle(b).color) === "rgb(0, 0, 0)", "dark text on a light accent");
  await launcher.click();
  await page.getByRole("heading", { name: "Tea Help" }).waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector(".panel")).backgroundColor);
  expect(bg === "rgb(27, 30, 35)", "data-theme=dark over a light system: " + bg);
  await shot(page, "states-left-yellow-dark.png");
  await axe(page, "left, light accent, dark theme");
  await context.close();
  site.close();
});
