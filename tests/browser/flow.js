// Usage: node flow.js PREVIEW_URL SCREENSHOT_PATH
// A customer opens the preview page, opens the chat with the launcher, fills the start form,
// sees their question before the workflow's greeting, the queue position, sends a message and
// sees it sent, then sees the agent who accepted in Teams and their reply (tests/api/browser.rs
// plays the agent). Exits non-zero on failure.
const { chromium } = require("playwright-core");

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 600, height: 720 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(process.argv[2]);
    await page.getByRole("button", { name: "Open chat" }).click();
    await page.getByLabel("Your name").fill("Ada");
    await page.getByLabel("Your email").fill("ada@example.com");
    await page.getByLabel("Your question (optional)").fill("Is anyone there?");
    await page.getByLabel(/I agree/).check();
    await page.getByRole("button", { name: "Start chat" }).click();
    const log = page.getByRole("log");
    await log.getByText("Hello Ada").waitFor({ timeout: 15000 });
    // The customer's question comes before the greeting.
    const order = await log.innerText();
    if (order.indexOf("Is anyone there?") < 0 || order.indexOf("Is anyone there?") > order.indexOf("Hello Ada")) {
      throw new Error("the first message is not before the greeting");
    }
    await page.getByRole("status").getByText("Waiting for an agent").waitFor({ timeout: 15000 });
    await page.getByText(/You are number 1 in the queue/).first().waitFor({ timeout: 15000 });
    await page.getByRole("textbox", { name: "Message" }).fill("Still there?");
    await page.keyboard.press("Enter");
    await log.getByText("Still there?").waitFor({ timeout: 15000 });
    // An agent in Teams accepts the chat and answers.
    await page.getByRole("status").getByText("You are chatting with Anne Agent").waitFor({ timeout: 30000 });
    await log.getByText("Yes, I am here to help.").waitFor({ timeout: 30000 });
    await page.screenshot({ path: process.argv[3] });
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    console.log("browser flow passed");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("browser flow failed: " + e.message);
  process.exit(1);
});
