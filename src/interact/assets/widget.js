/* Switchboard chat widget: dependency-free, no build step.
 * Embed: <div id="switchboard-chat"></div>
 *        <script src="https://HOST/interact/widget.js" data-contact="ID" data-key="KEY" async></script>
 * Every text from the server is inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : location.origin;
  var contact = script && script.getAttribute("data-contact");
  var widgetKey = script && script.getAttribute("data-key");
  var api = base + "/api/interact/v1";
  var storageKey = "switchboard:" + contact;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var root = document.getElementById("switchboard-chat") || document.body.appendChild(el("div", { id: "switchboard-chat" }));
  root.setAttribute("class", "sb-widget");
  var style = el("style", {}, ".sb-widget{font:15px/1.4 system-ui,sans-serif;max-width:380px;border:1px solid #ccc;border-radius:8px;padding:12px}" +
    ".sb-widget label{display:block;margin:6px 0 2px}.sb-widget input[type=text],.sb-widget input[type=email],.sb-widget textarea{width:100%;box-sizing:border-box}" +
    ".sb-log{height:260px;overflow-y:auto;border:1px solid #eee;padding:6px;margin:8px 0}.sb-msg{margin:4px 0}.sb-customer{text-align:right}" +
    ".sb-state{font-size:13px;color:#555}.sb-error{color:#a00}");
  document.head.appendChild(style);

  function showForm() {
    root.textContent = "";
    var form = el("form", { "aria-label": "Start a chat" });
    form.appendChild(el("label", { for: "sb-name" }, "Your name"));
    form.appendChild(el("input", { id: "sb-name", type: "text", required: "", maxlength: "100", autocomplete: "name" }));
    form.appendChild(el("label", { for: "sb-email" }, "Your email"));
    form.appendChild(el("input", { id: "sb-email", type: "email", required: "", autocomplete: "email" }));
    form.appendChild(el("label", { for: "sb-first" }, "Your question (optional)"));
    form.appendChild(el("textarea", { id: "sb-first", maxlength: "4000", rows: "3" }));
    var consent = el("label", { for: "sb-consent" });
    var box = el("input", { id: "sb-consent", type: "checkbox", required: "" });
    consent.appendChild(box);
    consent.appendChild(document.createTextNode(" I agree that my name, email and messages are processed to answer me."));
    form.appendChild(consent);
    var error = el("p", { class: "sb-error", role: "alert" });
    form.appendChild(error);
    form.appendChild(el("button", { type: "submit" }, "Start chat"));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      error.textContent = "";
      fetch(api + "/contacts/" + encodeURIComponent(contact) + "/sessions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          widgetKey: widgetKey,
          displayName: form.querySelector("#sb-name").value,
          email: form.querySelector("#sb-email").value,
          privacyConsent: box.checked,
          message: form.querySelector("#sb-first").value || undefined
        })
      }).then(function (r) {
        return r.json().then(function (body) { if (!r.ok) throw new Error(body.detail || body.code); return body; });
      }).then(function (session) {
        sessionStorage.setItem(storageKey, JSON.stringify(session));
        showChat(session);
      }).catch(function (err) { error.textContent = err.message; });
    });
    root.appendChild(form);
    form.querySelector("#sb-name").focus();
  }

  function showChat(session) {
    root.textContent = "";
    var state = el("p", { class: "sb-state", role: "status", "aria-live": "polite" }, "Connecting…");
    var log = el("div", { class: "sb-log", role: "log", "aria-live": "polite", tabindex: "0" });
    var choices = el("div", { class: "sb-choices" });
    var typing = el("p", { class: "sb-state", "aria-live": "polite" });
    var form = el("form", { "aria-label": "Send a message" });
    form.appendChild(el("label", { for: "sb-text" }, "Message"));
    var input = el("textarea", { id: "sb-text", maxlength: "4000", rows: "2" });
    form.appendChild(input);
    form.appendChild(el("button", { type: "submit" }, "Send"));
    var end = el("button", { type: "button" }, "End chat");
    root.appendChild(state); root.appendChild(log); root.appendChild(typing); root.appendChild(choices); root.appendChild(form); root.appendChild(end);

    var auth = { authorization: "Bearer " + session.token, "content-type": "application/json" };
    function add(cls, who, text) {
      var p = el("p", { class: "sb-msg " + cls });
      p.appendChild(el("strong", {}, who + ": "));
      p.appendChild(document.createTextNode(text));
      log.appendChild(p);
      log.scrollTop = log.scrollHeight;
    }
    function send(text) {
      var id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
      return fetch(api + "/sessions/" + session.sessionId + "/messages", {
        method: "POST", headers: auth, body: JSON.stringify({ text: text, clientMessageId: id })
      }).then(function (r) {
        if (r.status === 409) { state.textContent = labels.ended; input.disabled = true; }
      });
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!input.value.trim()) return;
      send(input.value); input.value = ""; input.focus();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    });
    end.addEventListener("click", function () {
      fetch(api + "/sessions/" + session.sessionId + "/end", { method: "POST", headers: auth });
    });
    var labels = { connecting: "Connecting…", queued: "Waiting for an agent…", connected: "You are chatting with an agent.", ended: "The chat has ended." };
    var events = new EventSource(api + "/sessions/" + session.sessionId + "/events?token=" + encodeURIComponent(session.token));
    events.addEventListener("event", function (e) {
      var event = JSON.parse(e.data);
      if (event.type !== "typing") typing.textContent = "";
      if (event.type === "state") {
        state.textContent = event.state === "connected" && event.agent
          ? "You are chatting with " + event.agent + "."
          : labels[event.state] || event.state;
        if (event.state === "ended") { events.close(); sessionStorage.removeItem(storageKey); input.disabled = true; }
      } else if (event.type === "queue") {
        state.textContent = "Waiting for an agent… You are number " + event.position + " in the queue.";
      } else if (event.type === "typing") {
        typing.textContent = "The agent is typing…";
      } else if (event.type === "message") {
        add("sb-" + event.from, event.from === "agent" ? (event.name || "Agent") : "Service", event.text);
      } else if (event.type === "customerMessage") {
        add("sb-customer", "You", event.text);
      } else if (event.type === "prompt") {
        add("sb-service", "Service", event.text);
        choices.textContent = "";
        event.choices.forEach(function (choice) {
          var b = el("button", { type: "button" }, choice);
          b.addEventListener("click", function () { choices.textContent = ""; send(choice); });
          choices.appendChild(b);
        });
      }
    });
    input.focus();
  }

  var saved = sessionStorage.getItem(storageKey);
  if (saved) { showChat(JSON.parse(saved)); } else { showForm(); }
})();
