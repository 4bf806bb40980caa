// A simulated Teams agent for a Switchboard in anonymous dev mode (demo data), for the browser
// scenarios that need the "connected" state outside `cargo test`.
// Usage as a module: const agent = await startAgent("http://127.0.0.1:3978");
//   await agent.install(); const id = await agent.nextInvitation(); await agent.accept(id);
//   await agent.typing(); await agent.say("Hello"); await agent.say("end"); agent.close();
// It plays the Bot Framework Connector itself (a loopback HTTP server taking the bot's posts)
// and posts unauthenticated activities to /api/messages, which dev mode accepts.
// Usage from a shell: node agent.js SWITCHBOARD_BASE [REPLY_TEXT]  (accepts the next chat, says REPLY_TEXT)
const http = require("http");

const TENANT = "00000000-0000-0000-0000-0000000000001";

async function startAgent(base, who = {}) {
  // A new agent each time by default: one left busy by an earlier run takes no new chat.
  const n = Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, "0");
  const me = { id: who.id || "29:sim-" + n, name: who.name || "Anne Agent", aad: who.aad || "00000000-0000-0000-0000-0000" + n };
  const personal = "a:personal-sim-" + Date.now();
  const posts = [];
  let waiters = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      let json = null;
      try { json = JSON.parse(body || "null"); } catch (_) { /* not JSON */ }
      if (req.url.includes("/oauth2/") || req.url.includes("token")) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ access_token: "x", expires_in: 3600, token_type: "Bearer" }));
      }
      posts.push({ method: req.method, url: req.url, body: json });
      waiters = waiters.filter((w) => !w());
      res.writeHead(req.method === "POST" && /\/v3\/conversations\/?$/.test(req.url) ? 201 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "act-" + posts.length }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const serviceUrl = "http://127.0.0.1:" + server.address().port + "/";

  function activity(type, conversation, more) {
    const isPersonal = conversation.startsWith("a:");
    return Object.assign({
      type, id: "in-" + Math.random().toString(36).slice(2), serviceUrl, channelId: "msteams",
      from: { id: me.id, name: me.name, aadObjectId: me.aad },
      conversation: { conversationType: isPersonal ? "personal" : "groupChat", isGroup: !isPersonal, tenantId: TENANT, id: conversation },
      recipient: { id: "28:switchboard", name: "Switchboard" }, channelData: { tenant: { id: TENANT } }, locale: "en-US",
    }, more || {});
  }
  async function post(a) {
    const r = await fetch(base + "/api/messages", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(a) });
    if (r.status >= 300) throw new Error("/api/messages answered " + r.status);
    return r.text();
  }
  function waitFor(pred, what, ms = 20000) {
    return new Promise((resolve, reject) => {
      const found = posts.find(pred);
      if (found) return resolve(found);
      const t = setTimeout(() => reject(new Error("agent: timed out waiting for " + what)), ms);
      waiters.push(() => { const f = posts.find(pred); if (f) { clearTimeout(t); resolve(f); return true; } return false; });
    });
  }
  function invitationOf(body) {
    const blocks = (((body || {}).attachments || [])[0] || {}).content;
    const list = (blocks && blocks.body) || [];
    for (const b of list) { const id = b.actions && b.actions[0] && b.actions[0].data && b.actions[0].data.invitationId; if (id) return id; }
    return null;
  }
  let seen = 0;
  return {
    async install() {
      await post(activity("installationUpdate", personal, { action: "add" }));
      await post(activity("conversationUpdate", personal, { membersAdded: [{ id: me.id, aadObjectId: me.aad }, { id: "28:switchboard" }] }));
    },
    async nextInvitation(ms) {
      const p = await waitFor((p, i) => i >= seen && p.method === "POST" && invitationOf(p.body), "an invitation", ms);
      seen = posts.indexOf(p) + 1;
      return invitationOf(p.body);
    },
    accept(invitationId) {
      return post(activity("invoke", personal, { name: "adaptiveCard/action", value: { action: { type: "Action.Execute", verb: "im.invitation.accept", data: { invitationId } }, trigger: "manual" } }));
    },
    say(text, id) { return post(activity("message", personal, Object.assign({ text, textFormat: "plain" }, id ? { id } : {}))); },
    // A formatted message as Teams sends it (a plain flattening and a text/html copy), with
    // the id its later edit or deletion names.
    sayRich(id, text, html) { return post(activity("message", personal, { id, text, textFormat: "plain", attachments: [{ contentType: "text/html", content: html }] })); },
    edit(id, text, html) { return post(activity("messageUpdate", personal, { id, text, textFormat: "plain", attachments: [{ contentType: "text/html", content: html }], channelData: { tenant: { id: TENANT }, eventType: "editMessage" } })); },
    remove(id) { return post(activity("messageDelete", personal, { id, channelData: { tenant: { id: TENANT }, eventType: "softDeleteMessage" } })); },
    typing() { return post(activity("typing", personal)); },
    // Teams' read receipt: the agent read up to the last message posted to them. It names a
    // message: not a typing indicator nor an update, which also got ids here.
    readAll() {
      let i = posts.length - 1;
      while (i >= 0 && !(posts[i].method === "POST" && posts[i].body && posts[i].body.type === "message")) i--;
      return post(activity("event", personal, { name: "application/vnd.microsoft.readReceipt", value: { lastReadMessageId: "act-" + (i + 1) } }));
    },
    // The id Teams gave the bot's message whose text holds `text` (a quote names it).
    idOf(text) {
      const i = posts.findIndex((p) => p.method === "POST" && p.body && typeof p.body.text === "string" && p.body.text.includes(text));
      return i < 0 ? null : "act-" + (i + 1);
    },
    waitFor,
    posts,
    close() { server.close(); },
  };
}

module.exports = { startAgent };

if (require.main === module) {
  (async () => {
    const agent = await startAgent(process.argv[2]);
    await agent.install();
    const id = await agent.nextInvitation(120000);
    await agent.accept(id);
    await new Promise((r) => setTimeout(r, 1000));
    await agent.say(process.argv[3] || "Hello, how can I help?");
    console.log("agent accepted and answered");
    agent.close();
  })().catch((e) => { console.error(e.message); process.exit(1); });
}
