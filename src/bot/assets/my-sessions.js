/* My Sessions: the agent's tab in Teams. Gets an Entra token with Teams single sign-on and
   shows what /api/tab/v1/me says; buttons post the cards' actions. Builds DOM nodes only
   (text is never parsed as HTML). */
(function () {
  "use strict";
  var token = null, timer = 0;
  var status = document.getElementById("status");
  function el(tag, props, kids) {
    var n = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") n.textContent = props[k];
      else if (k === "cls") n.className = props[k];
      else if (k === "onclick") n.addEventListener("click", props[k]);
      else n.setAttribute(k, props[k]);
    });
    (kids || []).forEach(function (c) { if (c) n.appendChild(c); });
    return n;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function when(iso) { var d = new Date(iso); return isNaN(d) ? "" : d.toLocaleString(); }
  function mins(s) { return s >= 60 ? Math.floor(s / 60) + " min" : s + " s"; }
  function list(id, items, row, empty) {
    var box = document.getElementById(id);
    clear(box);
    if (!items.length) { box.appendChild(el("p", { cls: "empty", text: empty })); return; }
    items.forEach(function (item) { box.appendChild(row(item)); });
  }
  function act(verb, data, label) {
    status.textContent = label + "…";
    return fetch("/api/tab/v1/actions", {
      method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + token },
      body: JSON.stringify({ verb: verb, data: data })
    }).then(function (r) { return r.json().then(function (b) { return [r, b]; }); }).then(function (rb) {
      status.textContent = rb[0].ok ? rb[1].message : (rb[1].detail || "That did not work.");
      return load();
    }, function () { status.textContent = "Switchboard could not be reached. Try again."; });
  }
  function render(me) {
    list("invitations", me.invitations, function (i) {
      return el("div", { cls: "card" }, [
        el("div", {}, [el("div", { cls: "who", text: i.customer }), el("div", { cls: "muted", text: (i.service || "Direct chat") + " · waiting " + mins(i.waitSeconds) })]),
        el("div", {}, [
          el("button", { cls: "primary", text: "Accept", onclick: function () { act("im.invitation.accept", { invitationId: i.invitationId }, "Accepting"); } }),
          el("button", { text: "Decline", onclick: function () { act("im.invitation.decline", { invitationId: i.invitationId }, "Declining"); } })
        ])
      ]);
    }, "No chat is waiting for you.");
    list("live", me.live, function (s) {
      return el("div", { cls: "card" }, [
        el("div", {}, [el("div", { cls: "who", text: s.customer }), el("div", { cls: "muted", text: (s.service || "Direct chat") + " · since " + when(s.openedAt) })]),
        el("button", { text: "End chat", onclick: function () { act("im.session.end", { sessionId: s.sessionId }, "Ending"); } })
      ]);
    }, "No open chats.");
    list("acw", me.acw ? [me.acw] : [], function (a) {
      return el("div", { cls: "card" }, [
        el("div", { text: "Wrap-up until " + when(a.until) }),
        el("div", {}, [
          el("button", { cls: "primary", text: "Done", onclick: function () { act("im.acw.done", {}, "Ending wrap-up"); } }),
          el("button", { text: "More time", onclick: function () { act("im.acw.extend", {}, "Extending wrap-up"); } })
        ])
      ]);
    }, "No wrap-up time now.");
    document.getElementById("sup").hidden = !me.supervised.length;
    list("supervised", me.supervised, function (s) {
      var state = s.state === "connected" ? "with " + (s.agent || "an agent") : s.state === "queued" ? "waiting " + mins(s.waitingSeconds || s.ageSeconds) : "in the workflow";
      return el("div", { cls: "card" }, [el("div", {}, [el("div", { cls: "who", text: s.service }), el("div", { cls: "muted", text: state + " · " + mins(s.ageSeconds) })])]);
    }, "");
    list("recent", me.recent, function (s) {
      return el("div", { cls: "card" }, [el("div", {}, [el("div", { text: (s.service || "Direct chat") + " · " + s.outcome }), el("div", { cls: "muted", text: when(s.endedAt) + " · " + s.channel })])]);
    }, "No sessions yet.");
  }
  function load() {
    clearTimeout(timer);
    return fetch("/api/tab/v1/me", { headers: { authorization: "Bearer " + token } }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) { status.textContent = b.detail || "You cannot use My Sessions."; return; }
        if (/…$/.test(status.textContent)) status.textContent = "Signed in as " + b.displayName + ".";
        render(b);
        timer = setTimeout(load, 10000);
      });
    }, function () { status.textContent = "Switchboard could not be reached."; timer = setTimeout(load, 10000); });
  }
  var teams = window.microsoftTeams;
  if (!teams) { status.textContent = "Open My Sessions in Microsoft Teams."; return; }
  Promise.resolve(teams.app.initialize()).then(function () {
    return teams.authentication.getAuthToken();
  }).then(function (t) { token = t; return load(); }, function () {
    status.textContent = "Teams could not sign you in. Ask your administrator to grant the app its permissions.";
  });
})();
