// Usage: node lost.js PREVIEW_URL OUT_DIR
// Nothing the customer types is lost. On the preview page: the start form kept when the
// service cannot be reached (a friendly error, then it works); a message answered 429 with
// Retry-After (status "rate limited", then sent once); a message while the server is down
// (network failure: "Not sent" with Retry, kept in sessionStorage with its client message id,
// still there after a reload, sent once when the server is back); a message typed offline
// (status "offline", sent when back online; the event stream reconnects). Finally a reload
// replays the conversation from the server: every message exactly once, all "Sent".
// Screenshots in OUT_DIR: lost-*.png. Needs no agent.
const { widgetState, startChat, endChat, expect, run } = require("./common");

const MESSAGES = "**/api/interact/v1/sessions/*/messages";

run("lost", async ({ browser, url, shot }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.getByRole("button", { name: "Open chat" }).click();

  // The service unreachable while starting: a customer's words, and the form keeps its values.
  await page.route("**/api/interact/v1/contacts/*/sessions", (r) => r.abort("connectionrefused"));
  await page.getByLabel("Your name").fill("Ada");
  await page.getByLabel("Your email").fill("ada@example.com");
  await page.getByLabel("Your question (optional)").fill("My order 1234 has not arrived.");
  await page.getByLabel(/I agree/).check();
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("We could not reach the chat service. Check your connection and try again.").waitFor();
  expect(!(await page.getByText("Failed to fetch").count()), "no raw browser error");
  expect(await page.getByLabel("Your question (optional)").inputValue() === "My order 1234 has not arrived.", "the question kept");
  await shot(page, "lost-start-unreachable.png");
  await page.unroute("**/api/interact/v1/contacts/*/sessions");
  // The server refuses the name (same origin: its answer is readable): its code in a customer's words.
  // (A tag character: the widget does not check those itself, the server refuses them.)
  await page.getByLabel("Your name").fill("Ada\u{E0041}");
  await page.getByRole("button", { name: "Start chat" }).click();
  await page.getByText("Please check your name").waitFor();
  expect(!(await page.getByText("displayName").count()), "no raw API text");
  await page.getByLabel("Your name").fill("Ada");
  await page.getByRole("button", { name: "Start chat" }).click();
  const log = page.getByRole("log");
  await log.getByText("My order 1234 has not arrived.").waitFor({ timeout: 15000 });
  await log.getByText("Hello Ada").waitFor({ timeout: 15000 });
  const box = page.getByRole("textbox", { name: "Message" });
  const status = page.getByRole("status");

  // 429 with Retry-After twice, then accepted.
  let limited = 0;
  await page.route(MESSAGES, (r) => {
    if (limited++ < 2) {
      return r.fulfill({ status: 429, headers: { "retry-after": "1", "access-control-allow-origin": "*" },
        contentType: "application/problem+json", body: JSON.stringify({ code: "rate_limited", detail: "slow down" }) });
    }
    return r.continue();
  });
  await box.fill("Message one, rate limited");
  await page.keyboard.press("Enter");
  await status.getByText("You are sending quickly").waitFor({ timeout: 5000 });
  await shot(page, "lost-rate-limited.png");
  await bubble(page, "Message one, rate limited").getByText("Sent").waitFor({ timeout: 15000 });
  expect(limited === 3, "two 429s then one accepted post (" + limited + ")");
  await page.unroute(MESSAGES);

  // The server down: failed with Retry, kept in sessionStorage, kept over a reload.
  await page.route(MESSAGES, (r) => r.abort("connectionrefused"));
  await box.fill("Message two, server down");
  await page.keyboard.press("Enter");
  await bubble(page, "Message two, server down").getByText("Sending").waitFor();
  await bubble(page, "Message two, server down").getByRole("button", { name: "Retry" }).waitFor({ timeout: 15000 });
  await shot(page, "lost-server-down.png");
  const stored = await page.evaluate(() => Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)).join(""));
  expect(stored.includes("Message two, server down"), "the unsent message kept in sessionStorage");
  await page.reload();
  await page.getByRole("log").waitFor({ timeout: 15000 });
  const st = await widgetState(page);
  expect(st.open && !st.activeInPanel && st.bodyFocused, "the open chat restored after a reload without taking focus");
  await bubble(page, "Message two, server down").waitFor({ timeout: 15000 });
  await log.getByText("Hello Ada").waitFor({ timeout: 15000 });
  await shot(page, "lost-after-reload.png");
  await page.unroute(MESSAGES);
  const retry = bubble(page, "Message two, server down").getByRole("button", { name: "Retry" });
  if (await retry.count()) await retry.click();
  await bubble(page, "Message two, server down").getByText("Sent").waitFor({ timeout: 20000 });

  // Offline: said so; the message waits and goes when back online; the stream reconnects.
  await context.setOffline(true);
  await page.evaluate(() => window.dispatchEvent(new Event("offline")));
  await status.getByText("You are offline").waitFor({ timeout: 5000 });
  await box.fill("Message three, offline");
  await page.keyboard.press("Enter");
  await bubble(page, "Message three, offline").getByText(/Sending|Not sent/).waitFor();
  await shot(page, "lost-offline.png");
  await context.setOffline(false);
  await page.evaluate(() => window.dispatchEvent(new Event("online")));
  await bubble(page, "Message three, offline").getByText("Sent").waitFor({ timeout: 20000 });
  await status.getByText(/Waiting for an agent|Connecting|You are chatting/).waitFor({ timeout: 20000 });

  // A reload replays the server's conversation: each message once, all sent.
  await page.waitForTimeout(500);
  await page.reload();
  await log.getByText("Message three, offline").waitFor({ timeout: 15000 });
  await page.waitForTimeout(1000);
  for (const text of ["My order 1234 has not arrived.", "Message one, rate limited", "Message two, server down", "Message three, offline"]) {
    const n = await bubble(page, text).count();
    expect(n === 1, `"${text}" shown once after a reload (${n})`);
    await bubble(page, text).getByText("Sent").waitFor({ timeout: 5000 });
  }
  const order = await log.innerText();
  const at = (t) => order.indexOf(t);
  expect(at("My order 1234") < at("Hello Ada") && at("Hello Ada") < at("Message one") &&
    at("Message one") < at("Message two") && at("Message two") < at("Message three"), "the conversation in order");
  const left = await page.evaluate(() => Object.keys(sessionStorage).map((k) => JSON.parse(sessionStorage.getItem(k))).filter((s) => s && s.pending && s.pending.length).length);
  expect(left === 0, "nothing left pending");
  await shot(page, "lost-replayed.png");
  await endChat(page);
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
});

// The customer's bubble (a log item) holding `text`.
function bubble(page, text) {
  return page.getByRole("log").locator(".item.me").filter({ hasText: text });
}
