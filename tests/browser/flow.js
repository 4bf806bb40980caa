// Usage: node flow.js PREVIEW_URL SCREENSHOT_PATH
// A customer opens the preview page, fills the widget's form, sees the workflow's greeting and
// queue position, sends a message and sees it in the conversation, then sees the agent who
// accepted in Teams and their reply. Exits non-zero on failure.
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
    await page.getByLabel("Your name").fill("Ada");
    await page.getByLabel("Your email").fill("ada@example.com");
    await page.getByLabel("Your question (optional)").fill("Is anyone there?");
    await page.getByLabel(/I agree/).check();
    await page.getByRole("button", { name: "Start chat" }).click();
    await page.getByText("Hello Ada").waitFor({ timeout: 15000 });
    await page.getByText("Waiting for an agent").waitFor({ timeout: 15000 });
    await page.getByText(/You are number 1 in the queue/).first().waitFor({ timeout: 15000 });
    await page.getByRole("textbox", { name: "Message" }).fill("Still there?");
    await page.keyboard.press("Enter");
    await page.getByText("Still there?").waitFor({ timeout: 15000 });
    // An agent in Teams accepts the chat and answers.
    await page.getByText("You are chatting with Anne Agent").waitFor({ timeout: 30000 });
    await page.getByText("Yes, I am here to help.").waitFor({ timeout: 30000 });
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
