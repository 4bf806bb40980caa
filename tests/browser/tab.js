// Usage: node tab.js TAB_URL#token=TOKEN OUT_DIR
// The "My Sessions" tab in a real browser, as Teams frames it: the Teams library is replaced by
// a stub whose single sign-on returns TOKEN (an Entra token the Rust test minted with the mock
// Entra's key); everything else is the real page against the real service. A chat rings for
// Anne: Accept, End chat, wrap-up More time and Done, the session in Recent; axe-core clean;
// screenshots tab-*.png in OUT_DIR.
const fs = require("fs");
const { run, expect } = require("./common");

run("tab", async ({ browser, url, shot }) => {
  const token = decodeURIComponent(new URL(url).hash.replace(/^#token=/, ""));
  const context = await browser.newContext({ viewport: { width: 1000, height: 720 } });
  await context.route("**/tabs/teams.js", (r) => r.fulfill({
    contentType: "text/javascript",
    body: "window.microsoftTeams = { app: { initialize: function () { return Promise.resolve(); } }, " +
      "authentication: { getAuthToken: function () { return Promise.resolve(" + JSON.stringify(token) + "); } } };",
  }));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.getByText("Signed in as Anne Agent.").waitFor({ timeout: 15000 });
  const waiting = page.locator("#invitations");
  await waiting.getByText("Ada").waitFor();
  await shot(page, "tab-invitation.png");
  await waiting.getByRole("button", { name: "Accept" }).click();
  const end = page.locator("#live").getByRole("button", { name: "End chat" });
  await end.waitFor({ timeout: 15000 });
  await page.getByText("You accepted this chat").waitFor();
  await shot(page, "tab-live.png");
  await end.click();
  await page.locator("#acw").getByRole("button", { name: "More time" }).waitFor({ timeout: 15000 });
  await page.locator("#acw").getByRole("button", { name: "More time" }).click();
  await page.getByText("After-contact work extended.").waitFor();
  await page.locator("#acw").getByRole("button", { name: "Done" }).click();
  await page.getByText("No wrap-up time now.").waitFor({ timeout: 15000 });
  await page.locator("#recent").getByText("Support · handled").waitFor({ timeout: 15000 });
  await shot(page, "tab-recent.png");
  const source = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(source);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => v.id + ": " + v.help));
  expect(violations.length === 0, "axe: " + violations.join("; "));
  expect(await page.locator("script:not([src])").count() === 0, "no inline scripts");
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
});
