// Usage: node agentchat.js PREVIEW_URL OUT_DIR
// Needs Switchboard in anonymous dev mode with its demo data (`cargo run --release`, contact
// `demo`): agent.js plays a Teams agent (installs the bot, accepts, types, answers, ends).
// The widget configuration is mocked (survey on, uploads on, a teal accent); the survey and
// file endpoints are mocked only while the server answers them 404 `not_found`.
// Checks: connected state with the agent's name, "joined" note, typing indicator, the agent's
// text with a safe clickable link, HTML kept as text and line breaks; a formatted message
// (bold, list, link, quote, code; an image described, no markup outside the subset), its edit
// and another's deletion; a file attached (and
// refused client-side when too large or of a wrong type); the unread badge while closed;
// the end: composer gone, survey (stars as radio buttons, comment), transcript download, a
// new chat. axe-core in light and dark. Screenshots in OUT_DIR: agent-*.png (desktop and
// phone, light and dark).
const fs = require("fs");
const { startAgent } = require("./agent");
const { axe, startChat, expect, run } = require("./common");

const CONFIG = {
  title: "Acme Support", greeting: "Hi! Ask us about orders, returns and our teas.", accentColor: "#0f766e",
  position: "right", logoUrl: null, repliesIn: "Typically replies in a few minutes", available: true,
  offlineMessages: true, survey: true, uploads: { maxBytes: 1048576, types: ["image/png", "application/pdf"] },
};

// Answers with the server's response unless it is the 404 of a missing route.
async function orMock(route, status, body) {
  const real = await route.fetch();
  let code = null;
  try { code = JSON.parse(await real.text()).code; } catch (_) { /* not JSON */ }
  if (real.status() === 404 && code === "not_found") {
    return route.fulfill({ status, contentType: "application/json", body: body ? JSON.stringify(body) : "" });
  }
  return route.fulfill({ response: real });
}

run("agentchat", async ({ browser, url, out, shot }) => {
  const agent = await startAgent(new URL(url).origin);
  try {
    await agent.install();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    await context.route("**/api/interact/v1/contacts/*/widget?*", (r) => r.fulfill({ contentType: "application/json", body: JSON.stringify(CONFIG) }));
    await context.route("**/api/interact/v1/sessions/*/survey", (r) => orMock(r, 204));
    await context.route("**/api/interact/v1/sessions/*/files?*", (r) => orMock(r, 201, { id: "file-1", name: "note.pdf", size: 9, contentType: "application/pdf" }));
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.getByRole("button", { name: "Open chat" }).click();
    await page.getByText("Typically replies in a few minutes").waitFor();
    await startChat(page, "Where is my order?");
    const log = page.getByRole("log");
    const status = page.getByRole("status");
    await log.getByText("Hello Ada").waitFor({ timeout: 15000 });
    await agent.accept(await agent.nextInvitation(30000));
    await status.getByText("You are chatting with Anne Agent.").waitFor({ timeout: 15000 });
    await log.getByText("Anne Agent joined the chat").waitFor();
    await agent.typing();
    await status.getByText("Anne Agent is typing…").waitFor({ timeout: 10000 });
    await shot(page, "agent-typing.png");
    await agent.say("Your order ships today: https://example.com/track?id=42.\nAnything else? <b>not bold</b> javascript:alert(1)");
    await log.getByText(/Your order ships today/).waitFor({ timeout: 10000 });
    await status.getByText("You are chatting with Anne Agent.").waitFor();
    const link = log.getByRole("link", { name: "https://example.com/track?id=42" });
    expect(await link.getAttribute("href") === "https://example.com/track?id=42", "the link's href without the full stop");
    expect(await link.getAttribute("target") === "_blank" && await link.getAttribute("rel") === "noopener noreferrer", "a safe link");
    expect(await log.getByRole("link").count() === 1, "only http(s) links");
    expect(await log.getByText("<b>not bold</b>", { exact: false }).count() === 1, "HTML shown as text");
    expect((await log.innerText()).includes("today: https://example.com/track?id=42.\nAnything else?"), "line breaks kept");

    // Formatting from Teams: bold, a list, a safe link, a quote; markup outside the subset
    // never reaches the page. Then the agent edits it, and deletes another message.
    // The quote names the customer's own message (a quote of anything else the bot posted is
    // never relayed).
    const quoted = agent.idOf("Where is my order?");
    expect(quoted !== null, "the customer's message was posted to the agent");
    await agent.sayRich("1700000000001", "Try these: Restart Reset", '<blockquote itemtype="http://schema.skype.com/Reply" itemid="' + quoted + '"><strong itemprop="mri">Ada</strong><p itemprop="preview">Where is my order?</p></blockquote><p>Try <strong>these</strong>:</p><ol><li>Restart</li><li>Reset, see <a href="https://example.com/reset">the guide</a></li></ol><img src="x" onerror="window.pwned=1"><p><code>ORD-42</code></p>');
    const rich = log.locator(".bubble.rich").first();
    await rich.locator("strong", { hasText: "these" }).waitFor({ timeout: 10000 });
    expect(await rich.locator("ol li").count() === 2, "the list's two items");
    expect(await rich.locator("blockquote").innerText() === "Ada\nWhere is my order?", "the quote with its author");
    expect(await rich.getByRole("link", { name: "the guide" }).getAttribute("href") === "https://example.com/reset", "the link's target");
    expect(await rich.getByRole("link", { name: "the guide" }).getAttribute("rel") === "noopener noreferrer", "a safe link");
    expect(await log.locator("img, script, [onerror]").count() === 0, "no markup outside the subset");
    expect(await rich.getByText("[an image]").count() === 1, "the image described");
    expect(await page.evaluate(() => window.pwned === undefined), "nothing ran");
    await rich.scrollIntoViewIfNeeded();
    await shot(page, "agent-formatted.png");
    await agent.edit("1700000000001", "Try this: restart", "<p>Try <em>this</em>: restart</p>");
    await rich.locator("em", { hasText: "this" }).waitFor({ timeout: 10000 });
    expect(await rich.locator("ol").count() === 0, "the edit replaced the message");
    await log.locator(".item.in").filter({ hasText: "Try this" }).getByText("edited").waitFor();
    await agent.say("Ignore this, wrong chat", "1700000000002");
    await log.getByText("Ignore this, wrong chat").waitFor({ timeout: 10000 });
    await agent.remove("1700000000002");
    await log.getByText("This message was deleted.").waitFor({ timeout: 10000 });
    expect(await log.getByText("Ignore this, wrong chat").count() === 0, "the deleted text is gone");
    await shot(page, "agent-edited.png");

    // A file: refused here when too large or of another type, else sent.
    const file = page.locator("input[type=file]");
    await file.setInputFiles({ name: "big.pdf", mimeType: "application/pdf", buffer: Buffer.alloc(1048577) });
    await page.getByText("This file is too large (at most 1 MB).").waitFor();
    await file.setInputFiles({ name: "tool.exe", mimeType: "application/x-msdownload", buffer: Buffer.from("MZ") });
    await page.getByText("This type of file cannot be sent.").waitFor();
    await file.setInputFiles({ name: "note.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4\n") });
    await log.locator(".item.me").filter({ hasText: "note.pdf" }).getByText("Sent").waitFor({ timeout: 10000 });
    await page.getByRole("textbox", { name: "Message" }).fill("Thanks! I attached the invoice.");
    await page.keyboard.press("Enter");
    await log.getByText("Thanks! I attached the invoice.").waitFor();
    // The agent reads it in Teams (a read receipt): the customer's bubble says Read.
    await agent.waitFor((p) => p.method === "POST" && JSON.stringify(p.body || {}).includes("I attached the invoice"), "the message posted to the agent");
    await agent.readAll();
    await log.locator(".item.me").filter({ hasText: "Thanks! I attached the invoice." }).getByText("Read").waitFor({ timeout: 10000 });
    await log.locator(".item.me").filter({ hasText: "note.pdf" }).getByText("Read").waitFor({ timeout: 10000 });
    await page.waitForTimeout(500);
    await shot(page, "agent-desktop-light.png");
    await axe(page, "connected, light");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "agent-desktop-dark.png");
    await axe(page, "connected, dark");
    await page.setViewportSize({ width: 375, height: 740 });
    await shot(page, "agent-phone-dark.png");
    await page.emulateMedia({ colorScheme: "light" });
    await shot(page, "agent-phone-light.png");
    await page.setViewportSize({ width: 1280, height: 800 });

    // Closed: the unread badge.
    await page.keyboard.press("Escape");
    await agent.say("Are you still there?");
    await page.getByRole("button", { name: "Open chat, 1 unread" }).waitFor({ timeout: 10000 });
    await shot(page, "agent-unread-badge.png");
    await page.getByRole("button", { name: "Open chat, 1 unread" }).click();
    await log.getByText("Are you still there?").waitFor();

    // The agent ends: survey, transcript, new chat.
    await agent.say("end");
    await status.getByText("The chat has ended.").waitFor({ timeout: 15000 });
    expect(!(await page.getByRole("textbox", { name: "Message" }).isVisible()), "no composer once ended");
    await page.getByRole("group", { name: "How was your chat?" }).waitFor();
    await axe(page, "ended with survey, light");
    await page.getByLabel("4 of 5 stars").check({ force: true });
    await page.getByLabel("Comment (optional)").fill("Quick and friendly.");
    await shot(page, "agent-survey.png");
    await page.getByRole("button", { name: "Send feedback" }).click();
    await page.getByText("Thank you for your feedback!").waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download transcript" }).click()]);
    const transcript = fs.readFileSync(await download.path(), "utf8");
    fs.writeFileSync(out + "/agent-transcript.txt", transcript);
    for (const t of ["Acme Support", "You: Where is my order?", "Anne Agent: Your order ships today", "Anne Agent: Try this: restart (edited)", "Anne Agent: Are you still there?", "note.pdf"]) {
      expect(transcript.includes(t), "the transcript has " + t);
    }
    await shot(page, "agent-ended.png");
    await page.emulateMedia({ colorScheme: "dark" });
    await axe(page, "ended, dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.getByRole("button", { name: "Start a new chat" }).click();
    expect(await page.getByLabel("Your name").inputValue() === "Ada", "a new chat keeps the name");
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
  } finally {
    agent.close();
  }
});
