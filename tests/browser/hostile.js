// Usage: node hostile.js PREVIEW_URL OUT_DIR
// The widget embedded on a page of another origin (http://localhost:PORT, served by this
// script) whose CSS is hostile (`* { all: unset }`, hidden checkboxes, no focus rings,
// a hidden #switchboard-chat child...). Checks: the launcher shows bottom right without taking
// focus or scrolling the page, and leaves the page's styles alone; opening moves focus into
// the panel, Escape closes it and gives focus back to the launcher; the consent checkbox is
// visible and usable; friendly form errors; a chat starts cross-origin (the question before
// the greeting, the queue state); server text with HTML stays text; axe-core finds no
// violation (light and dark); on a 375x740 phone the panel is full screen and traps focus.
// Screenshots in OUT_DIR: hostile-*.png. Needs no agent.
const { servePage, snippetOf, axe, widgetState, startChat, endChat, expect, run } = require("./common");

function shopPage(s, extra = "") {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme Shop</title>
<style>
  * { all: unset; }
  html, body { display: block; font: 16px Georgia, serif; color: #222; background: #fafaf7; }
  header, main, footer, section { display: block; padding: 16px 24px; }
  h1 { display: block; font-size: 32px; margin: 8px 0; }
  p { display: block; margin: 0 0 12px; color: #333 !important; }
  input[type=checkbox] { display: none !important; }
  button { background: red !important; font-size: 40px !important; }
  *:focus { outline: none !important; }
  [role=dialog], section[hidden] { display: none !important; }
  #switchboard-chat > * { opacity: 0 !important; position: absolute !important; top: -9999px !important; }
  .tall { height: 3000px; display: block; background: linear-gradient(#fafaf7, #e7e3d6); }
</style></head><body>
<header><h1>Acme Shop</h1><p>Tea, kettles and cups since 1901.</p></header>
<main><section><p>Our spring collection is here.</p></section><div class="tall"></div></main>
<script>document.addEventListener("DOMContentLoaded", function () { window.scrollTo(0, 400); });</script>
<div id="switchboard-chat"></div>
<script src="${s.src}" data-contact="${s.contact}" data-key="${s.key}" ${extra} async></script>
</body></html>`;
}

run("hostile", async ({ browser, url, shot }) => {
  const s = await snippetOf(url);
  const errors = [];
  const shop = await servePage(() => shopPage(s));
  const SHOP = shop.url;

  // Desktop, light.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(SHOP);
  const sheetsBefore = await page.evaluate(() => document.styleSheets.length);
  const launcher = page.getByRole("button", { name: "Open chat" });
  await launcher.waitFor({ timeout: 15000 });
  await page.waitForTimeout(300);
  let st = await widgetState(page);
  expect(st.mounted && !st.open, "a closed widget");
  expect(st.bodyFocused, "no focus taken before opening (active: " + st.active + ")");
  expect(st.scrollY === 400, "the page not scrolled by the widget (scrollY " + st.scrollY + ")");
  expect(await page.evaluate(() => document.styleSheets.length) === sheetsBefore, "no stylesheet added to the page");
  const box = await launcher.boundingBox();
  expect(box && box.x > 1100 && box.y > 650 && box.width >= 56, "the launcher bottom right: " + JSON.stringify(box));
  await shot(page, "hostile-desktop-closed.png");
  await axe(page, "closed, light");

  await launcher.click();
  st = await widgetState(page);
  expect(st.open && st.activeInPanel, "focus in the open panel (active: " + st.active + ")");
  const consent = page.getByLabel(/I agree/);
  expect(await consent.isVisible(), "the consent checkbox visible under a hostile reset");
  await page.keyboard.press("Escape");
  st = await widgetState(page);
  expect(!st.open && st.active === "Open chat", "Escape closes and focuses the launcher (" + st.active + ")");
  await page.keyboard.press("Enter");
  st = await widgetState(page);
  expect(st.open && st.activeInPanel, "Enter on the launcher opens the panel");

  // Friendly errors, never the API's words.
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("Please enter your name.").waitFor();
  await page.getByLabel("Your name").fill("Ada");
  await page.getByLabel("Your email").fill("not-an-email");
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("Please enter a valid email address.").waitFor();
  await page.getByLabel("Your email").fill("ada@example.com");
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("Please agree so that we can answer you.").waitFor();
  await consent.check();
  expect(await consent.isChecked(), "the consent checkbox checkable");
  // A name the server refuses (a bidi override): its code is mapped to a customer's words.
  await page.getByLabel("Your name").fill("Ada\u202Enimda");
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("Please check your name").waitFor();
  expect(!(await page.getByText("displayName").count()), "no raw API text");
  await shot(page, "hostile-desktop-form-error.png");
  await axe(page, "start form with an error, light");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "hostile-desktop-form-dark.png");
  await axe(page, "start form, dark");
  await page.emulateMedia({ colorScheme: "light" });

  await page.getByLabel("Your name").fill("Ada");
  await page.getByLabel("Your question (optional)").fill("Do you ship <b>kettles</b> to Spain?\nThanks");
  await page.getByRole("button", { name: "Start chat" }).click();
  const log = page.getByRole("log");
  await log.getByText("Hello Ada").waitFor({ timeout: 15000 });
  const text = await log.innerText();
  expect(text.indexOf("Do you ship") >= 0 && text.indexOf("Do you ship") < text.indexOf("Hello Ada"), "the question before the greeting");
  expect(await log.getByText("Do you ship <b>kettles</b> to Spain?").count() === 1, "HTML in a message shown as text");
  expect(await page.evaluate(() => !document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector(".log b")), "no element made from a message");
  await page.getByRole("status").getByText(/Waiting for an agent|Connecting/).waitFor({ timeout: 15000 });
  await page.getByRole("textbox", { name: "Message" }).fill("Second line test");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("here");
  await page.keyboard.press("Enter");
  await log.getByText(/Second line test\s+here/).waitFor();
  await page.getByText("Sent").last().waitFor();
  await shot(page, "hostile-desktop-chat-light.png");
  await axe(page, "chat, light");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "hostile-desktop-chat-dark.png");
  await axe(page, "chat, dark");
  await endChat(page);
  await context.close();

  // Phone, 375x740: full screen, focus kept in the panel, Escape back to the launcher.
  for (const scheme of ["light", "dark"]) {
    const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, colorScheme: scheme, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    p.on("pageerror", (e) => errors.push(e.message));
    await p.goto(SHOP);
    const l = p.getByRole("button", { name: "Open chat" });
    await l.waitFor({ timeout: 15000 });
    await shot(p, `hostile-phone-closed-${scheme}.png`);
    await l.click();
    const panel = await p.evaluate(() => {
      const r = document.querySelector("[data-switchboard-chat]").shadowRoot.querySelector(".panel").getBoundingClientRect();
      return [r.x, r.y, r.width, r.height];
    });
    expect(panel[0] === 0 && panel[1] === 0 && panel[2] === 375 && panel[3] === 740, "full screen on a phone: " + panel);
    for (let i = 0; i < 12; i++) {
      await p.keyboard.press(i % 5 === 4 ? "Shift+Tab" : "Tab");
      const w = await widgetState(p);
      expect(w.activeInPanel, "focus trapped in the panel on a phone (tab " + i + ": " + w.active + ")");
    }
    await shot(p, `hostile-phone-form-${scheme}.png`);
    await axe(p, "phone form, " + scheme);
    await startChat(p, "Hello from a phone");
    await p.getByRole("log").getByText("Hello Ada").waitFor({ timeout: 15000 });
    await p.getByRole("textbox", { name: "Message" }).fill("A reply from the phone");
    await p.keyboard.press("Enter");
    await p.getByRole("log").getByText("A reply from the phone").waitFor();
    await p.waitForTimeout(500);
    await shot(p, `hostile-phone-chat-${scheme}.png`);
    await axe(p, "phone chat, " + scheme);
    await endChat(p);
    await p.keyboard.press("Escape");
    const w = await widgetState(p);
    expect(!w.open && w.active === "Open chat", "Escape on a phone closes and focuses the launcher");
    await phone.close();
  }
  shop.close();
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
});
