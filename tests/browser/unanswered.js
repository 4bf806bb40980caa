// Usage: node unanswered.js PREVIEW_URL OUT_DIR
// A chat nobody answered: the contact's workflow ends it before any agent took it (the demo's
// does after three minutes in the queue). The ended chat offers "Leave us a message" first
// and no survey (nobody to rate); the form comes with the customer's name and email, and what
// they leave is sent (a real POST to the server). Screenshots in OUT_DIR: unanswered-*.png.
const { startChat, expect, run } = require("./common");

run("unanswered", async ({ browser, url, shot }) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.getByRole("button", { name: "Open chat" }).click();
  await startChat(page, "Is anyone there?", "Una");
  await page.getByRole("status").getByText("The chat has ended.").waitFor({ timeout: 15000 });
  const leave = page.getByRole("button", { name: "Leave us a message" });
  await leave.waitFor({ timeout: 5000 });
  expect(await page.getByRole("radio").count() === 0, "no survey of a chat nobody had");
  await shot(page, "unanswered-ended.png");
  await leave.click();
  await page.getByRole("heading", { name: "Leave us a message" }).waitFor({ timeout: 5000 });
  expect(await page.getByLabel("Your name").inputValue() === "Una", "the name is kept");
  await page.getByRole("textbox", { name: "Message", exact: true }).fill("Please call me back about order 1234.");
  const agree = page.getByLabel(/I agree/);
  if (!(await agree.isChecked())) await agree.check();
  const sent = page.waitForResponse((r) => r.url().includes("/offline-messages") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Send message" }).click();
  expect((await sent).status() === 201, "the message is stored");
  await page.getByText("Thank you! We received your message").waitFor({ timeout: 5000 });
  await shot(page, "unanswered-left.png");
  expect(errors.length === 0, "no page errors: " + errors.join("; "));
});
