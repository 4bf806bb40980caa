/* Switchboard chat widget: one dependency-free script, no build step.
 * Embed (the snippet of the preview page):
 *   <script src="https://HOST/interact/widget.js" data-contact="ID" data-key="KEY" async></script>
 * Optional attributes: data-title, data-color="#rrggbb", data-position="right|left",
 * data-lang="en|de|fr|it|es", data-theme="light|dark|auto".
 * The widget lives in a Shadow DOM (mode "open") on a host element at the end of <body> (or in
 * #switchboard-chat): the page's CSS cannot reach it and it does not touch the page's styles.
 * Every text from the server is inserted as text (textContent / DOM nodes), never as HTML.
 * Nothing the customer types is ever logged. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="/interact/widget.js"][data-contact]');
  if (!script) return;
  function attr(name) {
    var v = script.getAttribute("data-" + name);
    return v && v.trim() ? v.trim() : null;
  }
  var contact = attr("contact");
  var widgetKey = attr("key") || "";
  if (!contact) { console.error("Switchboard chat: the script tag has no data-contact attribute."); return; }
  var started = window.__switchboardChat = window.__switchboardChat || {};
  if (started[contact]) return;
  started[contact] = true;
  var base = new URL(script.src, location.href).origin;
  var api = base + "/api/interact/v1";
  var storeKey = "switchboard-chat:" + contact;
  var enc = encodeURIComponent;

  /* ---------- words ---------- */
  var WORDS = {
    en: {
      title: "Chat with us", greeting: "Hello! How can we help you today?",
      open: "Open chat", openUnread: "Open chat, {n} unread", close: "Close chat",
      name: "Your name", email: "Your email", question: "Your question (optional)", message: "Message",
      consent: "I agree that my name, email and messages are processed to answer me.",
      start: "Start chat", starting: "Starting…",
      errName: "Please enter your name.", errNameBad: "Please check your name: at most 100 characters, no special characters.",
      errEmail: "Please enter a valid email address.", errConsent: "Please agree so that we can answer you.",
      errMessage: "Please write your message.", errLong: "Your message is too long (at most 4,000 characters).",
      errNetwork: "We could not reach the chat service. Check your connection and try again.",
      errBusy: "Too many attempts. Please wait a minute and try again.",
      errGeneric: "Something went wrong. Please try again.",
      errNotHere: "This chat is not available on this website.",
      closed: "Nobody is available right now. Please come back later.",
      offlineTitle: "Leave us a message",
      offlineIntro: "Nobody is available right now. Leave a message and we will answer you by email.",
      offlineSend: "Send message", offlineDone: "Thank you! We received your message and will answer you by email.",
      connecting: "Connecting…", queued: "Waiting for an agent…",
      queuePos: "Waiting for an agent… You are number {n} in the queue.",
      connected: "You are chatting with {name}.", connectedAnon: "You are chatting with an agent.",
      joined: "{name} joined the chat", typing: "{name} is typing…", someone: "The agent",
      reconnecting: "Connection lost. Reconnecting…",
      offline: "You are offline. Your messages will be sent when you are back online.",
      rateLimited: "You are sending quickly. Your message will be sent in a moment.",
      ended: "The chat has ended.", endChat: "End chat", newChat: "Start a new chat",
      download: "Download transcript", transcript: "Chat transcript", you: "You",
      messages: "Messages", send: "Send", placeholder: "Write a message…",
      sending: "Sending…", sent: "Sent", failed: "Not sent", retry: "Retry", undelivered: "Not delivered",
      notSentEnded: "Not sent: the chat had ended",
      readStatus: "Read", edited: "edited", deleted: "This message was deleted.",
      attach: "Attach a file", fileTooLarge: "This file is too large (at most {n}).",
      fileType: "This type of file cannot be sent.",
      surveyTitle: "How was your chat?", stars: "{n} of 5 stars", comment: "Comment (optional)",
      surveySend: "Send feedback", skip: "Skip", thanks: "Thank you for your feedback!", errRating: "Please choose a rating."
    },
    de: {
      title: "Chatten Sie mit uns", greeting: "Hallo! Wie können wir Ihnen helfen?",
      open: "Chat öffnen", openUnread: "Chat öffnen, {n} ungelesen", close: "Chat schließen",
      name: "Ihr Name", email: "Ihre E-Mail-Adresse", question: "Ihre Frage (optional)", message: "Nachricht",
      consent: "Ich bin einverstanden, dass mein Name, meine E-Mail-Adresse und meine Nachrichten verarbeitet werden, um mir zu antworten.",
      start: "Chat starten", starting: "Wird gestartet…",
      errName: "Bitte geben Sie Ihren Namen ein.", errNameBad: "Bitte prüfen Sie Ihren Namen: höchstens 100 Zeichen, keine Sonderzeichen.",
      errEmail: "Bitte geben Sie eine gültige E-Mail-Adresse ein.", errConsent: "Bitte stimmen Sie zu, damit wir Ihnen antworten können.",
      errMessage: "Bitte schreiben Sie Ihre Nachricht.", errLong: "Ihre Nachricht ist zu lang (höchstens 4.000 Zeichen).",
      errNetwork: "Wir konnten den Chat-Dienst nicht erreichen. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
      errBusy: "Zu viele Versuche. Bitte warten Sie eine Minute und versuchen Sie es erneut.",
      errGeneric: "Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.",
      errNotHere: "Dieser Chat ist auf dieser Website nicht verfügbar.",
      closed: "Gerade ist niemand erreichbar. Bitte versuchen Sie es später wieder.",
      offlineTitle: "Hinterlassen Sie uns eine Nachricht",
      offlineIntro: "Gerade ist niemand erreichbar. Hinterlassen Sie eine Nachricht, wir antworten Ihnen per E-Mail.",
      offlineSend: "Nachricht senden", offlineDone: "Vielen Dank! Wir haben Ihre Nachricht erhalten und antworten Ihnen per E-Mail.",
      connecting: "Verbindung wird hergestellt…", queued: "Warten auf einen Mitarbeiter…",
      queuePos: "Warten auf einen Mitarbeiter… Sie sind Nummer {n} in der Warteschlange.",
      connected: "Sie chatten mit {name}.", connectedAnon: "Sie chatten mit einem Mitarbeiter.",
      joined: "{name} ist dem Chat beigetreten", typing: "{name} schreibt…", someone: "Der Mitarbeiter",
      reconnecting: "Verbindung unterbrochen. Neuer Versuch…",
      offline: "Sie sind offline. Ihre Nachrichten werden gesendet, sobald Sie wieder online sind.",
      rateLimited: "Sie schreiben sehr schnell. Ihre Nachricht wird gleich gesendet.",
      ended: "Der Chat wurde beendet.", endChat: "Chat beenden", newChat: "Neuen Chat starten",
      download: "Verlauf herunterladen", transcript: "Chatverlauf", you: "Sie",
      messages: "Nachrichten", send: "Senden", placeholder: "Nachricht schreiben…",
      sending: "Wird gesendet…", sent: "Gesendet", failed: "Nicht gesendet", retry: "Erneut senden", undelivered: "Nicht zugestellt",
      notSentEnded: "Nicht gesendet: Der Chat war beendet",
      readStatus: "Gelesen", edited: "bearbeitet", deleted: "Diese Nachricht wurde gelöscht.",
      attach: "Datei anhängen", fileTooLarge: "Diese Datei ist zu groß (höchstens {n}).",
      fileType: "Diese Dateiart kann nicht gesendet werden.",
      surveyTitle: "Wie war Ihr Chat?", stars: "{n} von 5 Sternen", comment: "Kommentar (optional)",
      surveySend: "Bewertung senden", skip: "Überspringen", thanks: "Vielen Dank für Ihre Bewertung!", errRating: "Bitte wählen Sie eine Bewertung."
    },
    fr: {
      title: "Discutez avec nous", greeting: "Bonjour ! Comment pouvons-nous vous aider ?",
      open: "Ouvrir le chat", openUnread: "Ouvrir le chat, {n} non lus", close: "Fermer le chat",
      name: "Votre nom", email: "Votre e-mail", question: "Votre question (facultatif)", message: "Message",
      consent: "J’accepte que mon nom, mon e-mail et mes messages soient traités pour me répondre.",
      start: "Démarrer le chat", starting: "Démarrage…",
      errName: "Veuillez saisir votre nom.", errNameBad: "Veuillez vérifier votre nom : 100 caractères au plus, sans caractères spéciaux.",
      errEmail: "Veuillez saisir une adresse e-mail valide.", errConsent: "Veuillez donner votre accord pour que nous puissions vous répondre.",
      errMessage: "Veuillez écrire votre message.", errLong: "Votre message est trop long (4 000 caractères au plus).",
      errNetwork: "Nous n’avons pas pu joindre le service de chat. Vérifiez votre connexion et réessayez.",
      errBusy: "Trop de tentatives. Veuillez patienter une minute et réessayer.",
      errGeneric: "Une erreur s’est produite. Veuillez réessayer.",
      errNotHere: "Ce chat n’est pas disponible sur ce site.",
      closed: "Personne n’est disponible pour le moment. Veuillez revenir plus tard.",
      offlineTitle: "Laissez-nous un message",
      offlineIntro: "Personne n’est disponible pour le moment. Laissez un message et nous vous répondrons par e-mail.",
      offlineSend: "Envoyer le message", offlineDone: "Merci ! Nous avons reçu votre message et vous répondrons par e-mail.",
      connecting: "Connexion…", queued: "En attente d’un conseiller…",
      queuePos: "En attente d’un conseiller… Vous êtes numéro {n} dans la file d’attente.",
      connected: "Vous discutez avec {name}.", connectedAnon: "Vous discutez avec un conseiller.",
      joined: "{name} a rejoint le chat", typing: "{name} écrit…", someone: "Le conseiller",
      reconnecting: "Connexion perdue. Reconnexion…",
      offline: "Vous êtes hors ligne. Vos messages seront envoyés dès votre retour en ligne.",
      rateLimited: "Vous écrivez vite. Votre message sera envoyé dans un instant.",
      ended: "Le chat est terminé.", endChat: "Terminer le chat", newChat: "Démarrer un nouveau chat",
      download: "Télécharger la conversation", transcript: "Conversation", you: "Vous",
      messages: "Messages", send: "Envoyer", placeholder: "Écrivez un message…",
      sending: "Envoi…", sent: "Envoyé", failed: "Non envoyé", retry: "Réessayer", undelivered: "Non distribué",
      notSentEnded: "Non envoyé : le chat était terminé",
      readStatus: "Lu", edited: "modifié", deleted: "Ce message a été supprimé.",
      attach: "Joindre un fichier", fileTooLarge: "Ce fichier est trop volumineux ({n} au plus).",
      fileType: "Ce type de fichier ne peut pas être envoyé.",
      surveyTitle: "Comment s’est passé votre chat ?", stars: "{n} étoiles sur 5", comment: "Commentaire (facultatif)",
      surveySend: "Envoyer l’avis", skip: "Passer", thanks: "Merci pour votre avis !", errRating: "Veuillez choisir une note."
    },
    it: {
      title: "Chatta con noi", greeting: "Ciao! Come possiamo aiutarti?",
      open: "Apri la chat", openUnread: "Apri la chat, {n} non letti", close: "Chiudi la chat",
      name: "Il tuo nome", email: "La tua e-mail", question: "La tua domanda (facoltativa)", message: "Messaggio",
      consent: "Accetto che il mio nome, la mia e-mail e i miei messaggi siano trattati per rispondermi.",
      start: "Avvia la chat", starting: "Avvio…",
      errName: "Inserisci il tuo nome.", errNameBad: "Controlla il tuo nome: al massimo 100 caratteri, senza caratteri speciali.",
      errEmail: "Inserisci un indirizzo e-mail valido.", errConsent: "Dai il tuo consenso così possiamo risponderti.",
      errMessage: "Scrivi il tuo messaggio.", errLong: "Il messaggio è troppo lungo (al massimo 4.000 caratteri).",
      errNetwork: "Non siamo riusciti a raggiungere il servizio di chat. Controlla la connessione e riprova.",
      errBusy: "Troppi tentativi. Attendi un minuto e riprova.",
      errGeneric: "Qualcosa è andato storto. Riprova.",
      errNotHere: "Questa chat non è disponibile su questo sito.",
      closed: "Al momento non c’è nessuno disponibile. Torna più tardi.",
      offlineTitle: "Lasciaci un messaggio",
      offlineIntro: "Al momento non c’è nessuno disponibile. Lascia un messaggio e ti risponderemo via e-mail.",
      offlineSend: "Invia il messaggio", offlineDone: "Grazie! Abbiamo ricevuto il tuo messaggio e ti risponderemo via e-mail.",
      connecting: "Connessione…", queued: "In attesa di un operatore…",
      queuePos: "In attesa di un operatore… Sei il numero {n} in coda.",
      connected: "Stai chattando con {name}.", connectedAnon: "Stai chattando con un operatore.",
      joined: "{name} è entrato nella chat", typing: "{name} sta scrivendo…", someone: "L’operatore",
      reconnecting: "Connessione persa. Riconnessione…",
      offline: "Sei offline. I tuoi messaggi saranno inviati quando tornerai online.",
      rateLimited: "Stai scrivendo velocemente. Il messaggio sarà inviato tra un momento.",
      ended: "La chat è terminata.", endChat: "Termina la chat", newChat: "Avvia una nuova chat",
      download: "Scarica la conversazione", transcript: "Conversazione", you: "Tu",
      messages: "Messaggi", send: "Invia", placeholder: "Scrivi un messaggio…",
      sending: "Invio…", sent: "Inviato", failed: "Non inviato", retry: "Riprova", undelivered: "Non consegnato",
      notSentEnded: "Non inviato: la chat era terminata",
      readStatus: "Letto", edited: "modificato", deleted: "Questo messaggio è stato eliminato.",
      attach: "Allega un file", fileTooLarge: "Il file è troppo grande (al massimo {n}).",
      fileType: "Questo tipo di file non può essere inviato.",
      surveyTitle: "Com’è andata la chat?", stars: "{n} stelle su 5", comment: "Commento (facoltativo)",
      surveySend: "Invia la valutazione", skip: "Salta", thanks: "Grazie per la tua valutazione!", errRating: "Scegli una valutazione."
    },
    es: {
      title: "Chatea con nosotros", greeting: "¡Hola! ¿Cómo podemos ayudarte?",
      open: "Abrir el chat", openUnread: "Abrir el chat, {n} sin leer", close: "Cerrar el chat",
      name: "Tu nombre", email: "Tu correo electrónico", question: "Tu pregunta (opcional)", message: "Mensaje",
      consent: "Acepto que mi nombre, mi correo y mis mensajes se traten para responderme.",
      start: "Iniciar el chat", starting: "Iniciando…",
      errName: "Introduce tu nombre.", errNameBad: "Revisa tu nombre: como máximo 100 caracteres, sin caracteres especiales.",
      errEmail: "Introduce un correo electrónico válido.", errConsent: "Acepta para que podamos responderte.",
      errMessage: "Escribe tu mensaje.", errLong: "Tu mensaje es demasiado largo (como máximo 4.000 caracteres).",
      errNetwork: "No pudimos conectar con el servicio de chat. Comprueba tu conexión e inténtalo de nuevo.",
      errBusy: "Demasiados intentos. Espera un minuto e inténtalo de nuevo.",
      errGeneric: "Algo salió mal. Inténtalo de nuevo.",
      errNotHere: "Este chat no está disponible en este sitio web.",
      closed: "Ahora mismo no hay nadie disponible. Vuelve más tarde.",
      offlineTitle: "Déjanos un mensaje",
      offlineIntro: "Ahora mismo no hay nadie disponible. Déjanos un mensaje y te responderemos por correo.",
      offlineSend: "Enviar el mensaje", offlineDone: "¡Gracias! Hemos recibido tu mensaje y te responderemos por correo.",
      connecting: "Conectando…", queued: "Esperando a un agente…",
      queuePos: "Esperando a un agente… Eres el número {n} en la cola.",
      connected: "Estás chateando con {name}.", connectedAnon: "Estás chateando con un agente.",
      joined: "{name} se ha unido al chat", typing: "{name} está escribiendo…", someone: "El agente",
      reconnecting: "Conexión perdida. Reconectando…",
      offline: "Estás sin conexión. Tus mensajes se enviarán cuando vuelvas a estar en línea.",
      rateLimited: "Estás escribiendo rápido. Tu mensaje se enviará en un momento.",
      ended: "El chat ha terminado.", endChat: "Terminar el chat", newChat: "Iniciar un nuevo chat",
      download: "Descargar la conversación", transcript: "Conversación", you: "Tú",
      messages: "Mensajes", send: "Enviar", placeholder: "Escribe un mensaje…",
      sending: "Enviando…", sent: "Enviado", failed: "No enviado", retry: "Reintentar", undelivered: "No entregado",
      notSentEnded: "No enviado: el chat había terminado",
      readStatus: "Leído", edited: "editado", deleted: "Este mensaje se eliminó.",
      attach: "Adjuntar un archivo", fileTooLarge: "Este archivo es demasiado grande (como máximo {n}).",
      fileType: "Este tipo de archivo no se puede enviar.",
      surveyTitle: "¿Qué tal ha ido el chat?", stars: "{n} de 5 estrellas", comment: "Comentario (opcional)",
      surveySend: "Enviar la valoración", skip: "Omitir", thanks: "¡Gracias por tu valoración!", errRating: "Elige una valoración."
    }
  };
  var lang = (function () {
    var tries = [attr("lang"), document.documentElement.getAttribute("lang"), navigator.language];
    for (var i = 0; i < tries.length; i++) {
      var l = tries[i] && tries[i].slice(0, 2).toLowerCase();
      if (l && WORDS[l]) return l;
    }
    return "en";
  })();
  var W = WORDS[lang];
  function t(key, n) {
    return W[key].replace("{n}", n).replace("{name}", n);
  }

  /* ---------- small helpers ---------- */
  function h(tag, props, kids) {
    var node = document.createElement(tag);
    for (var k in props || {}) {
      var v = props[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k === "cls" ? "class" : k, v === true ? "" : v);
    }
    (kids || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z",
    down: "M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z",
    send: "M3 20.5 21 12 3 3.5 3 10l12 2-12 2z",
    clip: "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"
  };
  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", ICONS[name]);
    svg.appendChild(p);
    return svg;
  }
  function uuid() {
    var c = window.crypto;
    if (c && c.randomUUID) { try { return c.randomUUID(); } catch (e) { /* insecure context */ } }
    var b = new Uint8Array(16);
    c.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function clock(ms) {
    try { return new Date(ms).toLocaleTimeString(lang, { hour: "numeric", minute: "2-digit" }); } catch (e) { return ""; }
  }
  function initials(name) {
    var parts = String(name || "").trim().split(/\s+/).filter(Boolean);
    var s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
    return s.toUpperCase();
  }
  function httpUrl(s) {
    try { var u = new URL(s); return u.protocol === "http:" || u.protocol === "https:" ? u.href : null; } catch (e) { return null; }
  }
  /* Text with clickable http(s) links, built as DOM nodes; line breaks are kept by CSS. */
  function richText(text) {
    var frag = document.createDocumentFragment();
    var re = /\bhttps?:\/\/[^\s<>"']+/gi, last = 0, m;
    text = String(text || "");
    while ((m = re.exec(text))) {
      var url = m[0].replace(/[.,;:!?)\]}]+$/, "");
      var href = httpUrl(url);
      if (!href) continue;
      frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(h("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: url }));
      last = m.index + url.length;
      re.lastIndex = last;
    }
    frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }
  /* An agent's formatted message: the server's safe subset, parsed inert by DOMParser and
     rebuilt here element by element from an allowlist (anything else keeps only its text). */
  var KEEP = { P: 1, BR: 1, STRONG: 1, EM: 1, U: 1, S: 1, CODE: 1, PRE: 1, UL: 1, OL: 1, LI: 1, BLOCKQUOTE: 1 };
  function safeHtml(html) {
    var frag = document.createDocumentFragment(), doc;
    try { doc = new DOMParser().parseFromString(String(html), "text/html"); } catch (e) { return null; }
    (function copy(from, to) {
      Array.prototype.forEach.call(from.childNodes, function (n) {
        if (n.nodeType === 3) { to.appendChild(document.createTextNode(n.nodeValue)); return; }
        if (n.nodeType !== 1) return;
        var tag = n.tagName, href = tag === "A" && (httpUrl(n.getAttribute("href")) || (/^mailto:/i.test(n.getAttribute("href") || "") ? n.getAttribute("href") : null));
        var el = href ? h("a", { href: href, target: "_blank", rel: "noopener noreferrer" }) : KEEP[tag] ? document.createElement(tag.toLowerCase()) : null;
        copy(n, el || to);
        if (el) to.appendChild(el);
      });
    })(doc.body, frag);
    return frag;
  }
  function content(text, html) { return (html && safeHtml(html)) || richText(text); }
  function load() {
    try { return JSON.parse(sessionStorage.getItem(storeKey) || "null"); } catch (e) { return null; }
  }
  function luminance(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  /* The problem+json `code` of an answer, if any. */
  function readProblem(r) {
    return r.text().then(function (s) { try { return JSON.parse(s) || {}; } catch (e) { return {}; } }, function () { return {}; });
  }
  function call(path, opts) {
    opts = opts || {};
    var headers = { accept: "application/json" };
    if (opts.json !== undefined) headers["content-type"] = "application/json";
    if (opts.auth && S) headers.authorization = "Bearer " + S.token;
    for (var k in opts.headers || {}) headers[k] = opts.headers[k];
    return fetch(api + path, {
      method: opts.method || "GET", headers: headers, mode: "cors", credentials: "omit",
      body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body,
      signal: opts.signal
    });
  }
  function retryAfter(r) {
    var v = r && r.headers.get("retry-after");
    if (!v) return 0;
    var s = Number(v);
    if (!isNaN(s)) return Math.min(s, 300) * 1000;
    var d = Date.parse(v);
    return isNaN(d) ? 0 : Math.max(0, Math.min(d - Date.now(), 300000));
  }

  /* ---------- configuration (fetched before the launcher shows) ---------- */
  var FATAL = { unknown_contact: 1, origin_not_allowed: 1, invalid_widget_key: 1 };
  function fetchConfig() {
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, 8000);
    return call("/contacts/" + enc(contact) + "/widget?key=" + enc(widgetKey), { signal: ctrl && ctrl.signal }).then(function (r) {
      return readProblem(r).then(function (body) {
        clearTimeout(timer);
        if (r.ok) return body;
        if (FATAL[body.code]) throw { fatal: body.code };
        return {}; // an older server without the endpoint, or a passing failure: defaults
      });
    }, function () { clearTimeout(timer); return {}; });
  }

  var cfg, S = null, root, shadow, els = {};

  fetchConfig().then(function (c) {
    var color = attr("color") || c.accentColor;
    cfg = {
      title: attr("title") || c.title || W.title,
      greeting: c.greeting || W.greeting,
      accent: /^#[0-9a-f]{6}$/i.test(color || "") ? color : "#2456d3",
      position: (attr("position") || c.position) === "left" ? "left" : "right",
      logo: c.logoUrl ? httpUrl(c.logoUrl) : null,
      repliesIn: typeof c.repliesIn === "string" ? c.repliesIn : null,
      available: c.available !== false,
      offlineMessages: c.offlineMessages === true,
      survey: c.survey === true,
      uploads: c.uploads && c.uploads.maxBytes > 0 ? c.uploads : null,
      theme: attr("theme")
    };
    mount();
  }, function (e) {
    console.error("Switchboard chat: " + (e && e.fatal ? e.fatal : "failed to start") +
      " — check data-contact, data-key and the allowed domains of this contact.");
  });

  /* ---------- styles ---------- */
  var DARK = "--bg:#1b1e23;--fg:#eef1f4;--muted:#b3bac3;--line:#8a939e;--soft:#2a2f36;--in:#2c323a;--link:#9cc2ff;--err:#ffa198;--shadow:rgba(0,0,0,.6);";
  function css(accent, afg) {
    return ":host{all:initial!important;display:block!important;position:static!important;}" +
      ".sb{--accent:" + accent + ";--afg:" + afg + ";--bg:#fff;--fg:#1b1f24;--muted:#545d68;--line:#6e7781;--soft:#f3f4f6;--in:#eceff3;--link:#0b57d0;--err:#b42318;--shadow:rgba(15,23,42,.25);" +
      "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:var(--fg);-webkit-text-size-adjust:100%;}" +
      ".sb.dark{" + DARK + "}@media (prefers-color-scheme:dark){.sb:not(.light){" + DARK + "}}" +
      "*,*::before,*::after{box-sizing:border-box}[hidden]{display:none!important}" +
      "button,input,textarea{font:inherit;color:inherit;margin:0}" +
      "button{cursor:pointer}button:disabled{cursor:default;opacity:.6}" +
      ":focus{outline:none}:focus-visible{outline:3px solid var(--fg);outline-offset:2px}" +
      ".vh{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}" +
      ".launcher{position:fixed;bottom:20px;right:20px;z-index:2147483000;width:60px;height:60px;border-radius:50%;border:0;background:var(--accent);color:var(--afg);" +
      "box-shadow:0 4px 16px var(--shadow);display:flex;align-items:center;justify-content:center;transition:transform .15s}" +
      ".launcher:hover{transform:scale(1.05)}.launcher svg{width:28px;height:28px;fill:currentColor}" +
      ".left .launcher{right:auto;left:20px}.left .panel{right:auto;left:20px}" +
      ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#c21d2b;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;border:2px solid #fff}" +
      ".panel{position:fixed;bottom:96px;right:20px;z-index:2147483001;width:380px;max-width:calc(100vw - 40px);height:min(640px,calc(100vh - 120px));" +
      "display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border-radius:16px;box-shadow:0 12px 40px var(--shadow);overflow:hidden}" +
      "@media (max-width:480px){.panel{inset:0;width:auto;max-width:none;height:auto;border-radius:0}.sb.open .launcher{display:none}}" +
      "@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}" +
      ".head{display:flex;align-items:center;gap:10px;padding:14px 12px 14px 16px;background:var(--accent);color:var(--afg)}" +
      ".head :focus-visible{outline-color:var(--afg)}" +
      ".logo{width:36px;height:36px;border-radius:50%;object-fit:cover;background:#fff;flex:none}" +
      ".ht{flex:1;min-width:0}.ht h2{margin:0;font-size:17px;font-weight:700;line-height:1.25;overflow-wrap:anywhere}.ht p{margin:2px 0 0;font-size:13px}" +
      ".icon{width:40px;height:40px;border:0;border-radius:50%;background:transparent;color:inherit;display:flex;align-items:center;justify-content:center;flex:none}" +
      ".icon svg{width:22px;height:22px;fill:currentColor}.icon:hover{background:rgba(127,127,127,.2)}" +
      ".bar{display:flex;align-items:center;gap:8px;padding:6px 12px 6px 16px;border-bottom:1px solid var(--soft);min-height:36px}" +
      ".status{flex:1;margin:0;font-size:13px;color:var(--muted)}" +
      ".link{border:0;background:none;padding:4px 6px;color:var(--fg);text-decoration:underline;font-size:13px;border-radius:4px}" +
      ".body{flex:1;overflow-y:auto;padding:16px;overscroll-behavior:contain}" +
      ".intro{margin:0 0 12px}.intro h3{margin:0 0 6px;font-size:16px}" +
      "form.card label.f{display:block;font-weight:600;font-size:14px;margin:12px 0 4px}" +
      "input[type=text],input[type=email],textarea{display:block;width:100%;padding:9px 11px;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg)}" +
      "textarea{resize:vertical;min-height:44px}[aria-invalid=true]{border-color:var(--err)!important;border-width:2px!important}" +
      ".check{display:flex;gap:10px;align-items:flex-start;margin:14px 0 4px;font-size:14px}" +
      ".check input{width:20px;height:20px;margin:1px 0 0;flex:none;accent-color:var(--accent)}" +
      ".err{color:var(--err);font-size:14px;margin:8px 0 0;font-weight:600}.err:empty{display:none}" +
      ".btn{display:inline-flex;align-items:center;justify-content:center;gap:6px;min-height:44px;padding:10px 16px;border:0;border-radius:10px;background:var(--accent);color:var(--afg);font-weight:600}" +
      ".btn.wide{width:100%;margin-top:14px}.btn2{background:transparent;color:var(--fg);border:1px solid var(--line)}" +
      ".log{display:flex;flex-direction:column;gap:2px}" +
      ".item{display:flex;flex-direction:column;max-width:85%;margin-top:10px}.item.cont{margin-top:2px}" +
      ".item.me{align-self:flex-end;align-items:flex-end}.item.in{align-self:flex-start}" +
      ".row{display:flex;gap:8px;align-items:flex-end}" +
      ".av{width:28px;height:28px;border-radius:50%;background:var(--soft);color:var(--fg);font-size:11px;font-weight:700;display:flex;align-items:center;justify-content:center;flex:none;overflow:hidden}" +
      ".av img{width:100%;height:100%;object-fit:cover}.av svg{width:16px;height:16px;fill:currentColor}.cont .av{visibility:hidden}" +
      ".who{font-size:12px;color:var(--muted);margin:0 0 2px 36px}.cont .who{display:none}" +
      ".bubble{padding:9px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}" +
      ".in .bubble{background:var(--in);color:var(--fg);border-bottom-left-radius:4px}.in .bubble a{color:var(--link)}" +
      ".me .bubble{background:var(--accent);color:var(--afg);border-bottom-right-radius:4px}.me .bubble a{color:inherit}" +
      ".meta{font-size:12px;color:var(--muted);margin:3px 4px 0;display:flex;gap:6px;align-items:center}.in .meta{margin-left:40px}" +
      ".meta .bad{color:var(--err);font-weight:600}.meta button{font-size:12px;padding:2px 8px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg)}" +
      ".note{align-self:center;font-size:12px;color:var(--muted);margin:12px 0 0;text-align:center}" +
      ".typing{display:flex;gap:4px;padding:12px 14px;background:var(--in);border-radius:16px;width:max-content;margin:10px 0 0 36px}" +
      ".typing i{width:7px;height:7px;border-radius:50%;background:var(--muted);animation:sbdot 1.2s infinite}" +
      ".typing i:nth-child(2){animation-delay:.2s}.typing i:nth-child(3){animation-delay:.4s}" +
      "@keyframes sbdot{0%,60%,100%{opacity:.3;transform:none}30%{opacity:1;transform:translateY(-3px)}}" +
      ".choices{display:flex;flex-wrap:wrap;gap:6px;padding:0 12px 8px}.choices button{border:1px solid var(--accent);background:var(--bg);color:var(--fg);border-radius:16px;padding:6px 12px;min-height:36px}" +
      ".composer{display:flex;align-items:flex-end;gap:6px;padding:10px 12px;border-top:1px solid var(--soft)}" +
      ".composer textarea{flex:1;resize:none;max-height:140px;min-height:44px;border-radius:22px;padding:11px 16px}" +
      ".composer .icon{color:var(--fg)}.composer .send{background:var(--accent);color:var(--afg);width:44px;height:44px}" +
      ".cerr{padding:0 16px}.endbox{padding:12px 16px 16px;border-top:1px solid var(--soft);display:flex;flex-direction:column;gap:8px}" +
      ".bubble.rich{white-space:normal}.bubble p{margin:0}.bubble p+p,.bubble p+ul,.bubble p+ol{margin-top:6px}" +
      ".bubble ul,.bubble ol{margin:4px 0;padding-left:20px}.bubble blockquote{margin:0 0 6px;padding-left:8px;border-left:3px solid currentColor;opacity:.85}" +
      ".bubble pre{margin:4px 0;padding:6px 8px;border-radius:6px;background:rgba(127,127,127,.15);overflow:auto;white-space:pre}" +
      ".bubble code,.bubble pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}.deleted .bubble{font-style:italic;opacity:.7}" +
      ".bubble.file{display:flex;gap:6px;align-items:center}.bubble.file svg{width:18px;height:18px;fill:currentColor;flex:none}" +
      ".endbox p{margin:0}.endbox .btn{min-height:40px;padding:8px 12px;font-size:14px}.endbox .btns{display:flex;flex-wrap:wrap;gap:8px}" +
      "fieldset{border:0;padding:0;margin:0}legend{font-weight:600;padding:0;margin-bottom:6px}" +
      ".stars{display:flex;gap:2px}.stars label{position:relative;cursor:pointer;font-size:30px;line-height:1;color:var(--muted);padding:2px 4px;border-radius:6px}" +
      ".stars label.on{color:#b35900}.sb.dark .stars label.on{color:#ffb547}" +
      "@media (prefers-color-scheme:dark){.sb:not(.light) .stars label.on{color:#ffb547}}" +
      ".stars input{position:absolute;opacity:0;width:1px;height:1px}.stars input:focus-visible+span{outline:3px solid var(--fg);outline-offset:2px;border-radius:4px}" +
      ".survey textarea{margin-top:4px}.survey .btns{margin-top:8px}";
  }

  /* ---------- mounting ---------- */
  function mount() {
    var host = h("div", { "data-switchboard-chat": contact });
    var slot = document.getElementById("switchboard-chat");
    (slot || document.body).appendChild(host);
    shadow = host.attachShadow({ mode: "open" });
    var afg = (1.05 / (luminance(cfg.accent) + 0.05)) >= ((luminance(cfg.accent) + 0.05) / 0.05) ? "#ffffff" : "#000000";
    var styles = css(cfg.accent, afg);
    if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(styles);
        shadow.adoptedStyleSheets = [sheet];
      } catch (e) { shadow.appendChild(h("style", { text: styles })); }
    } else shadow.appendChild(h("style", { text: styles }));

    root = h("div", { cls: "sb" + (cfg.position === "left" ? " left" : "") + (cfg.theme === "dark" ? " dark" : cfg.theme === "light" ? " light" : ""), lang: lang });
    els.badge = h("span", { cls: "badge", "aria-hidden": "true", hidden: true });
    els.launcher = h("button", { type: "button", cls: "launcher", "aria-expanded": "false", "aria-controls": "sb-panel", "aria-label": W.open, onclick: toggle }, [icon("chat"), els.badge]);
    els.status = h("p", { cls: "status", role: "status", "aria-live": "polite" });
    els.end = h("button", { type: "button", cls: "link", hidden: true, text: W.endChat, onclick: endChat });
    els.body = h("div", { cls: "body" });
    els.foot = h("div", {});
    els.panel = h("section", { id: "sb-panel", cls: "panel", role: "dialog", "aria-labelledby": "sb-title", hidden: true, onkeydown: panelKeys }, [
      h("div", { cls: "head" }, [
        cfg.logo ? h("img", { cls: "logo", src: cfg.logo, alt: "" }) : null,
        h("div", { cls: "ht" }, [h("h2", { id: "sb-title", text: cfg.title }), cfg.repliesIn ? h("p", { text: cfg.repliesIn }) : null]),
        h("button", { type: "button", cls: "icon", "aria-label": W.close, onclick: function () { setOpen(false, true); } }, [icon("close")])
      ]),
      els.bar = h("div", { cls: "bar", hidden: true }, [els.status, els.end]),
      els.body,
      els.foot
    ]);
    root.appendChild(els.launcher);
    root.appendChild(els.panel);
    shadow.appendChild(root);
    window.addEventListener("online", function () { renderStatus(); if (S) { reconnectNow(); pump(); } });
    window.addEventListener("offline", renderStatus);

    S = load();
    if (S && S.id && S.token) showChat(); else { S = null; showStart(); }
    if (S && S.open) setOpen(true, false);
  }

  var open = false, unread = 0;
  function toggle() { setOpen(!open, true); }
  function setOpen(value, byUser) {
    open = value;
    els.panel.hidden = !open;
    root.classList.toggle("open", open);
    els.launcher.setAttribute("aria-expanded", String(open));
    els.launcher.replaceChild(icon(open ? "down" : "chat"), els.launcher.firstChild);
    if (S) { S.open = open; save(); }
    if (open) {
      unread = 0;
      markRead();
      scrollDown(true);
      if (byUser) setTimeout(focusFirst, 0);
    } else if (byUser) {
      els.launcher.focus({ preventScroll: true });
    }
    renderBadge();
  }
  function markRead() { if (S && open) { S.read = seq; save(); } }
  function renderBadge() {
    els.badge.hidden = !unread || open;
    els.badge.textContent = unread > 9 ? "9+" : String(unread);
    els.launcher.setAttribute("aria-label", open ? W.close : unread ? t("openUnread", unread) : W.open);
  }
  function focusFirst() {
    var target = els.body.querySelector("input:not([type=hidden]),textarea:not([disabled])") ||
      els.foot.querySelector("textarea:not([disabled]),button") || els.panel.querySelector("button");
    if (target) target.focus({ preventScroll: true });
  }
  function phone() { return window.matchMedia && window.matchMedia("(max-width: 480px)").matches; }
  function focusables() {
    return Array.prototype.filter.call(
      els.panel.querySelectorAll("button,a[href],input,textarea,select,[tabindex]:not([tabindex='-1'])"),
      function (n) { return !n.disabled && n.getClientRects().length > 0 && !(n.type === "radio" && !n.checked && n.closest(".stars").querySelector(":checked")); });
  }
  function panelKeys(e) {
    if (e.key === "Escape") { e.preventDefault(); setOpen(false, true); return; }
    if (e.key !== "Tab" || !phone()) return;
    var list = focusables();
    if (!list.length) return;
    var first = list[0], last = list[list.length - 1], active = shadow.activeElement;
    if (e.shiftKey && (active === first || list.indexOf(active) < 0)) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (active === last || list.indexOf(active) < 0)) { e.preventDefault(); first.focus(); }
  }
  function scrollDown(force) {
    var b = els.body;
    if (force || b.scrollHeight - b.scrollTop - b.clientHeight < 120) b.scrollTop = b.scrollHeight;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  /* ---------- forms ---------- */
  var remembered = { name: "", email: "" };
  function field(id, label, input) {
    input.id = id;
    return [h("label", { cls: "f", "for": id, text: label }), input];
  }
  function formError(form, errorEl, input, text) {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (n) { n.removeAttribute("aria-invalid"); });
    errorEl.textContent = text || "";
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus({ preventScroll: true }); }
  }
  /* name, email, [message], consent; `checkMessage` requires the message. */
  function personForm(kind, messageLabel, requireMessage, button, onSubmit) {
    var nameIn = h("input", { type: "text", maxlength: "100", autocomplete: "name", required: true, "aria-describedby": kind + "-err" });
    var emailIn = h("input", { type: "email", maxlength: "254", autocomplete: "email", required: true, "aria-describedby": kind + "-err" });
    var msgIn = h("textarea", { rows: "3", maxlength: "4000", required: requireMessage || null, "aria-describedby": kind + "-err" });
    var consentIn = h("input", { type: "checkbox", id: kind + "-consent", required: true, "aria-describedby": kind + "-err" });
    var err = h("p", { cls: "err", id: kind + "-err", role: "alert" });
    var submit = h("button", { type: "submit", cls: "btn wide", text: button });
    nameIn.value = remembered.name;
    emailIn.value = remembered.email;
    var form = h("form", { cls: "card", novalidate: true, "aria-label": button }, [].concat(
      field(kind + "-name", W.name, nameIn), field(kind + "-email", W.email, emailIn), field(kind + "-msg", messageLabel, msgIn),
      [h("div", { cls: "check" }, [consentIn, h("label", { "for": kind + "-consent", text: W.consent })]), err, submit]));
    function fixed(e) {
      if (e.target.getAttribute("aria-invalid")) { e.target.removeAttribute("aria-invalid"); err.textContent = ""; }
    }
    form.addEventListener("input", fixed);
    form.addEventListener("change", fixed);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var name = nameIn.value.trim(), email = emailIn.value.trim(), text = msgIn.value;
      if (!name) return formError(form, err, nameIn, W.errName);
      if (name.length > 100 || /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/.test(name)) return formError(form, err, nameIn, W.errNameBad);
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return formError(form, err, emailIn, W.errEmail);
      if (requireMessage && !text.trim()) return formError(form, err, msgIn, W.errMessage);
      if (text.length > 4000) return formError(form, err, msgIn, W.errLong);
      if (!consentIn.checked) return formError(form, err, consentIn, W.errConsent);
      formError(form, err, null, "");
      remembered.name = name;
      remembered.email = email;
      submit.disabled = true;
      submit.textContent = W.starting;
      onSubmit({ widgetKey: widgetKey, displayName: name, email: email, message: text.trim() ? text : undefined, privacyConsent: true }, function (r, body) {
        submit.disabled = false;
        submit.textContent = button;
        var code = body && body.code;
        if (!r) return formError(form, err, null, W.errNetwork);
        var fields = { invalid_display_name: [nameIn, W.errNameBad], invalid_email: [emailIn, W.errEmail], consent_required: [consentIn, W.errConsent], invalid_message: [msgIn, W.errLong] };
        if (fields[code]) return formError(form, err, fields[code][0], fields[code][1]);
        if (FATAL[code]) {
          console.error("Switchboard chat: " + code);
          return formError(form, err, null, W.errNotHere);
        }
        formError(form, err, null, r.status === 429 ? W.errBusy : W.errGeneric);
      });
    });
    return form;
  }
  function post(path, body, done) {
    call(path, { method: "POST", json: body }).then(function (r) {
      readProblem(r).then(function (b) { done(r, b); });
    }, function () { done(null, null); });
  }

  function showStart() {
    clear(els.body);
    clear(els.foot);
    els.bar.hidden = true;
    els.end.hidden = true;
    if (!cfg.available) return showUnavailable();
    els.body.appendChild(h("div", { cls: "intro" }, [h("p", { text: cfg.greeting })]));
    els.body.appendChild(personForm("sb-start", W.question, false, W.start, function (body, fail) {
      post("/contacts/" + enc(contact) + "/sessions", body, function (r, answer) {
        if (r && r.status === 201 && answer.sessionId && answer.token) {
          S = { id: answer.sessionId, token: answer.token, pending: [], read: 0, times: {}, open: true };
          save();
          showChat(body.message);
          focusFirst();
        } else if (r && answer && answer.code === "interact_unavailable") {
          cfg.available = false;
          showStart();
          focusFirst();
        } else fail(r, answer);
      });
    }));
  }
  function showUnavailable() {
    if (!cfg.offlineMessages) {
      els.body.appendChild(h("p", { cls: "intro", text: W.closed }));
      return;
    }
    els.body.appendChild(h("div", { cls: "intro" }, [h("h3", { text: W.offlineTitle }), h("p", { text: W.offlineIntro })]));
    els.body.appendChild(personForm("sb-off", W.message, true, W.offlineSend, function (body, fail) {
      post("/contacts/" + enc(contact) + "/offline-messages", body, function (r, answer) {
        if (r && r.ok) {
          clear(els.body);
          var done = h("p", { cls: "intro", tabindex: "-1", text: W.offlineDone });
          els.body.appendChild(done);
          done.focus({ preventScroll: true });
        } else fail(r, answer);
      });
    }));
  }

  /* ---------- the chat ---------- */
  var log, typingEl, choicesEl, composer, input, attachIn, composerErr, endBox;
  var es = null, streamTimer = 0, streamFails = 0, broken = false, seq = 0;
  var chatState = "connecting", agent = null, position = 0, typingUntil = 0, typingTimer = 0, limitedUntil = 0;
  var wasConnected = false;
  var mine = {}; /* client message id → {node, meta, seen} */
  var agentSaid = {}; /* event seq of an agent's message → {node, bubble, meta} */
  var fileIds = {};
  var lastSender = null;

  function save() {
    if (!S) return;
    var times = S.times || {}, keys = Object.keys(times);
    if (keys.length > 400) keys.slice(0, keys.length - 400).forEach(function (k) { delete times[k]; });
    try { sessionStorage.setItem(storeKey, JSON.stringify(S)); } catch (e) { /* storage full or off: keep going */ }
  }

  function showChat(firstMessage) {
    clear(els.body);
    clear(els.foot);
    mine = {};
    agentSaid = {};
    fileIds = {};
    lastSender = null;
    seq = 0;
    chatState = "connecting";
    agent = null;
    wasConnected = false;
    position = 0;
    broken = false;
    streamFails = 0;
    S.pending = S.pending || [];
    S.times = S.times || {};
    S.ended = false; // an ended chat is shown again from its events, its end included
    els.bar.hidden = false;
    els.end.hidden = false;
    log = h("div", { cls: "log", role: "log", "aria-live": "polite", "aria-label": W.messages });
    typingEl = h("div", { cls: "typing", "aria-hidden": "true", hidden: true }, [h("i"), h("i"), h("i")]);
    els.body.appendChild(log);
    els.body.appendChild(typingEl);
    choicesEl = h("div", { cls: "choices", hidden: true });
    composerErr = h("p", { cls: "err cerr", role: "alert" });
    input = h("textarea", { id: "sb-text", rows: "1", maxlength: "4000", placeholder: W.placeholder, onkeydown: composerKeys, oninput: onType });
    input.value = S.draft || "";
    var kids = [h("label", { "for": "sb-text", cls: "vh", text: W.message })];
    if (cfg.uploads) {
      attachIn = h("input", { type: "file", cls: "vh", tabindex: "-1", "aria-hidden": "true", accept: (cfg.uploads.types || []).join(",") || null, onchange: onFile });
      kids.push(attachIn, h("button", { type: "button", cls: "icon", "aria-label": W.attach, onclick: function () { attachIn.click(); } }, [icon("clip")]));
    }
    kids.push(input, h("button", { type: "submit", cls: "icon send", "aria-label": W.send }, [icon("send")]));
    composer = h("form", { cls: "composer", "aria-label": W.send, onsubmit: function (e) { e.preventDefault(); submitText(); } }, kids);
    endBox = h("div", { cls: "endbox", hidden: true });
    els.foot.appendChild(choicesEl);
    els.foot.appendChild(composerErr);
    els.foot.appendChild(composer);
    els.foot.appendChild(endBox);
    if (firstMessage) {
      var b = bubbleMine("first", firstMessage, Date.now());
      b.seen = true;
      setMine(b, "sent");
    }
    S.pending.forEach(function (m) { setMine(bubbleMine(m.id, m.text, m.at), "sending"); });
    renderStatus();
    openStream();
    pump();
  }

  function composerKeys(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitText(); }
  }
  function onType() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
    if (S) { S.draft = input.value; save(); }
  }
  function submitText() {
    var text = input.value;
    if (!text.trim() || S.ended) return;
    if (text.length > 4000) { composerErr.textContent = W.errLong; return; }
    composerErr.textContent = "";
    input.value = "";
    onType();
    sendText(text);
    input.focus({ preventScroll: true });
  }
  function sendText(text) {
    var m = { id: uuid(), text: text, at: Date.now() };
    S.pending.push(m);
    save();
    setMine(bubbleMine(m.id, text, m.at), "sending");
    scrollDown(true);
    pump();
  }

  /* Where an event's item goes: before the customer's messages the stream has not shown yet. */
  function place(node) {
    var items = log.children, before = null;
    for (var i = 0; i < items.length; i++) {
      var b = items[i].sbMine;
      if (b && !b.seen && items[i] !== node) { before = items[i]; break; }
    }
    log.insertBefore(node, before);
  }
  function item(kind, who, text, at, extra) {
    var node = h("div", { cls: "item " + kind });
    node.sbLine = { at: at, who: who, text: text };
    return node;
  }
  function bubbleMine(id, text, at, fileName) {
    var node = item("me", W.you, fileName ? "\uD83D\uDCCE " + fileName : text, at);
    var meta = h("div", { cls: "meta" });
    node.appendChild(h("div", { cls: "bubble" + (fileName ? " file" : "") }, fileName ? [icon("clip"), fileName] : [richText(text)]));
    node.appendChild(meta);
    var b = { id: id, node: node, meta: meta, seen: false, at: at };
    node.sbMine = b;
    mine[id] = b;
    lastSender = "me";
    log.appendChild(node);
    return b;
  }
  function setMine(b, status, retry) {
    clear(b.meta);
    b.status = status;
    b.meta.appendChild(h("span", { text: clock(b.at) }));
    var label = status === "sending" ? W.sending : status === "sent" ? W.sent : status === "read" ? W.readStatus : status === "ended" ? W.notSentEnded : status === "undelivered" ? W.undelivered : W.failed;
    b.meta.appendChild(h("span", { cls: status === "failed" || status === "ended" || status === "undelivered" ? "bad" : null, text: "· " + label }));
    if (retry) b.meta.appendChild(h("button", { type: "button", text: W.retry, onclick: retry }));
  }
  function incoming(from, name, text, at, html) {
    var who = from === "agent" ? (name || W.someone) : cfg.title;
    var key = from + ":" + who;
    var node = item("in" + (key === lastSender ? " cont" : ""), who, text, at);
    lastSender = key;
    var av = h("span", { cls: "av", "aria-hidden": "true" });
    if (from !== "agent" && cfg.logo) av.appendChild(h("img", { src: cfg.logo, alt: "" }));
    else if (from !== "agent") av.appendChild(icon("chat"));
    else av.textContent = initials(who);
    if (from === "agent") node.appendChild(h("p", { cls: "who", text: who }));
    var bubble = h("div", { cls: "bubble" + (html ? " rich" : "") }, [content(text, html)]);
    var meta = h("div", { cls: "meta", text: clock(at) });
    node.appendChild(h("div", { cls: "row" }, [av, bubble]));
    node.appendChild(meta);
    if (from === "agent" && seq) agentSaid[seq] = { node: node, bubble: bubble, meta: meta };
    place(node);
    if (!open && seq > (S.read || 0)) { unread++; renderBadge(); }
    scrollDown(false);
  }
  /* The agent edited or deleted a message: its bubble shows it (and the transcript says so). */
  function changed(ev) {
    var said = agentSaid[ev.seq];
    if (!said) return;
    clear(said.bubble);
    if (ev.type === "messageDeleted") {
      said.node.classList.add("deleted");
      said.bubble.className = "bubble";
      said.bubble.appendChild(document.createTextNode(W.deleted));
      said.node.sbLine.text = W.deleted;
    } else {
      said.bubble.className = "bubble" + (ev.html ? " rich" : "");
      said.bubble.appendChild(content(ev.text, ev.html));
      said.node.sbLine.text = ev.text + " (" + W.edited + ")";
      if (!said.meta.querySelector(".edited")) said.meta.appendChild(h("span", { cls: "edited", text: " · " + W.edited }));
    }
  }
  function note(text) {
    var node = h("p", { cls: "note", text: text });
    node.sbLine = { at: null, who: null, text: text };
    lastSender = null;
    place(node);
  }

  /* Messages go out one at a time, in order, each retried with its client message id until the
   * server took it: nothing typed is lost on 429, 5xx, a network failure or a reload. */
  var pumping = false, pumpTimer = 0, tries = 0;
  function pump() {
    if (pumping || !S || !S.pending.length) return;
    if (navigator.onLine === false) { markPending(tries >= 2 ? "failed" : "sending"); return; }
    clearTimeout(pumpTimer);
    pumping = true;
    var m = S.pending[0], current = S;
    call("/sessions/" + enc(S.id) + "/messages", { method: "POST", auth: true, json: { text: m.text, clientMessageId: m.id } }).then(function (r) {
      pumping = false;
      if (S !== current) return;
      if (r.ok) {
        tries = 0;
        limitedUntil = 0;
        renderStatus();
        return taken(m, "sent");
      }
      return readProblem(r).then(function (p) {
        if (r.status === 429 || r.status >= 500 || r.status === 408) return later(retryAfter(r), r.status === 429);
        if (S !== current) return;
        if (r.status === 409 || r.status === 404) {
          taken(m, "ended");
          if (p.code === "session_ended" || r.status === 404) ended();
          return;
        }
        // Refused as it is (e.g. 400): it stays in the list, failed, with Retry.
        S.pending.shift();
        save();
        var b = mine[m.id];
        if (b) setMine(b, "failed", function () { S.pending.push(m); save(); setMine(b, "sending"); pump(); });
        pump();
      });
    }, function () { pumping = false; if (S === current) later(0, false); });
  }
  function later(wait, limited) {
    tries++;
    var delay = wait || Math.min(30000, 1000 * Math.pow(2, tries - 1)) * (0.8 + Math.random() * 0.4);
    if (limited) { limitedUntil = Date.now() + delay; setTimeout(renderStatus, delay + 50); }
    renderStatus();
    markPending(tries >= 3 ? "failed" : "sending");
    clearTimeout(pumpTimer);
    pumpTimer = setTimeout(pump, delay);
  }
  function markPending(status) {
    S.pending.forEach(function (m) {
      var b = mine[m.id];
      if (b) setMine(b, status, status === "failed" ? retryNow : null);
    });
  }
  function retryNow() { tries = 0; clearTimeout(pumpTimer); markPending("sending"); pump(); }
  function taken(m, status) {
    S.pending = S.pending.filter(function (x) { return x.id !== m.id; });
    save();
    var b = mine[m.id];
    // The stream may have told more already (the agent read it, or it could not be posted):
    // the answer to the send does not take that back.
    if (b && b.status !== "read" && b.status !== "undelivered") setMine(b, status);
    pump();
  }

  /* ---------- the event stream ---------- */
  function openStream() {
    if (es) es.close();
    es = null;
    clearTimeout(streamTimer);
    if (!S || S.ended) return;
    var source = new EventSource(api + "/sessions/" + enc(S.id) + "/events?token=" + enc(S.token) + "&after=" + seq);
    es = source;
    source.addEventListener("open", function () {
      if (es !== source) return;
      streamFails = 0;
      if (broken) { broken = false; renderStatus(); }
    });
    source.addEventListener("event", function (e) {
      if (es !== source) return;
      var n = Number(e.lastEventId) || 0;
      if (n && n <= seq) return;
      var ev;
      try { ev = JSON.parse(e.data); } catch (x) { return; }
      if (n) {
        seq = n;
        if (!S.times[n]) S.times[n] = ev.at || Date.now();
      }
      handle(ev, (n && S.times[n]) || Date.now());
      if (n && !(n <= S.read)) markRead();
      save();
    });
    source.onerror = function () {
      if (es !== source) return;
      source.close();
      es = null;
      if (!S || S.ended) return;
      broken = true;
      streamFails++;
      renderStatus();
      if (streamFails >= 3 && streamFails % 3 === 0) checkSession();
      var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(streamFails - 1, 5))) * (0.8 + Math.random() * 0.4);
      streamTimer = setTimeout(openStream, delay);
    };
  }
  function reconnectNow() { if (S && !S.ended && !es) { streamFails = 0; openStream(); } }
  /* After repeated stream failures: is the session still there? */
  function checkSession() {
    var current = S;
    call("/sessions/" + enc(S.id), { auth: true }).then(function (r) {
      if (S !== current) return;
      if (r.status === 404) ended();
      else if (r.ok) r.json().then(function (b) { if (b.state === "ended" && S === current) ended(); }, function () {});
    }, function () {});
  }

  function handle(ev, at) {
    switch (ev.type) {
      case "state":
        if (ev.state === "connected") {
          wasConnected = true;
          var name = ev.agent || null;
          if (name && name !== agent) note(t("joined", name));
          agent = name;
        }
        if (ev.state === "ended") return ended();
        chatState = ev.state;
        break;
      case "queue":
        position = ev.position;
        break;
      case "typing":
        typingUntil = Date.now() + 6000;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(renderStatus, 6100);
        break;
      case "message":
      case "template":
        typingUntil = 0;
        incoming(ev.from === "agent" || ev.agent ? "agent" : "service", ev.name || ev.agent, ev.text, at, ev.html);
        break;
      case "messageEdited":
      case "messageDeleted":
        changed(ev);
        break;
      case "undelivered":
        /* Teams refused it for good: the customer sees so and may send it again. */
        Object.keys(mine).forEach(function (id) {
          var b = mine[id];
          if (b.seq === ev.seq && b.status !== "undelivered") {
            var text = b.node.sbLine.text, file = b.node.querySelector(".bubble.file");
            setMine(b, "undelivered", S.ended || file ? null : function () { setMine(b, "undelivered"); sendText(text); });
          }
        });
        break;
      case "read":
        Object.keys(mine).forEach(function (id) {
          var b = mine[id];
          if (b.seq && b.seq <= ev.upTo && b.status === "sent") setMine(b, "read");
        });
        break;
      case "prompt":
        incoming("service", null, ev.text, at);
        showChoices(ev.choices || []);
        break;
      case "customerMessage":
        seenMine(ev, at);
        break;
    }
    renderStatus();
  }
  function seenMine(ev, at) {
    var id = ev.clientMessageId, b = mine[id];
    if (!b && (fileIds[id] || fileIds[ev.fileId] || Object.keys(fileIds).some(function (f) { return String(ev.text).indexOf(f) >= 0; }))) return;
    if (b) {
      if (seq) { S.times[seq] = b.at; b.seq = seq; } // shown at the time the customer wrote it, after a reload too
      if (!b.seen) { b.seen = true; place(b.node); }
      if (b.status !== "sent" && b.status !== "read") {
        S.pending = S.pending.filter(function (m) { return m.id !== id; });
        save();
        setMine(b, "sent");
      }
      return;
    }
    b = bubbleMine(id, ev.text, at);
    b.seen = true;
    b.seq = seq;
    place(b.node);
    setMine(b, "sent");
    scrollDown(false);
  }
  function showChoices(choices) {
    clear(choicesEl);
    choices.forEach(function (c) {
      choicesEl.appendChild(h("button", { type: "button", text: c, onclick: function () { clear(choicesEl); choicesEl.hidden = true; sendText(c); } }));
    });
    choicesEl.hidden = !choices.length;
  }

  function renderStatus() {
    if (!S || !els.status) return;
    var typing = typingUntil > Date.now() && !S.ended;
    typingEl.hidden = !typing;
    var text;
    if (S.ended) text = W.ended;
    else if (navigator.onLine === false) text = W.offline;
    else if (broken) text = W.reconnecting;
    else if (limitedUntil > Date.now()) text = W.rateLimited;
    else if (typing) text = t("typing", agent || W.someone);
    else if (chatState === "connected") text = agent ? t("connected", agent) : W.connectedAnon;
    else if (chatState === "queued") text = position ? t("queuePos", position) : W.queued;
    else text = W.connecting;
    if (els.status.textContent !== text) els.status.textContent = text;
    if (typing) scrollDown(false);
  }

  /* ---------- the end ---------- */
  var ending = false;
  function endChat() {
    var current = S;
    if (ending) return;
    ending = true; // (not disabled: the button keeps focus until the end box takes it)
    call("/sessions/" + enc(S.id) + "/end", { method: "POST", auth: true }).then(function (r) {
      ending = false;
      if ((r.ok || r.status === 404) && S === current) ended();
    }, function () { ending = false; composerErr.textContent = W.errNetwork; });
  }
  function ended() {
    if (!S || S.ended && endBox && !endBox.hidden) return;
    var active = shadow.activeElement, lostFocus = active && (active === els.end || composer.contains(active) || choicesEl.contains(active));
    S.ended = true;
    save();
    if (es) es.close();
    es = null;
    clearTimeout(streamTimer);
    broken = false;
    typingUntil = 0;
    els.end.hidden = true;
    composer.hidden = true;
    choicesEl.hidden = true;
    input.disabled = true;
    renderStatus();
    clear(endBox);
    endBox.hidden = false;
    // Nobody answered: the customer may leave a message instead (no survey of a chat nobody had).
    var unanswered = !wasConnected && cfg.offlineMessages;
    if (cfg.survey && !S.survey && wasConnected) endBox.appendChild(survey());
    endBox.appendChild(h("div", { cls: "btns" }, [
      unanswered ? h("button", { type: "button", cls: "btn", text: W.offlineTitle, onclick: leaveMessage }) : null,
      h("button", { type: "button", cls: unanswered ? "btn btn2" : "btn", text: W.newChat, onclick: newChat }),
      h("button", { type: "button", cls: "btn btn2", text: W.download, onclick: download })
    ].filter(Boolean)));
    // What had focus is gone: it goes to what comes next, the survey or the buttons.
    if (lostFocus) endBox.querySelector("input,button").focus({ preventScroll: true });
  }
  function leaveMessage() {
    newChat(true);
  }
  function newChat(leave) {
    if (es) es.close();
    es = null;
    clearTimeout(pumpTimer);
    S = null;
    try { sessionStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
    if (leave === true) {
      clear(els.body);
      clear(els.foot);
      els.bar.hidden = true;
      els.end.hidden = true;
      showUnavailable();
    } else showStart();
    focusFirst();
  }
  function download() {
    var lines = [cfg.title + " — " + W.transcript, new Date().toLocaleString(lang), ""];
    Array.prototype.forEach.call(log.children, function (n) {
      var l = n.sbLine;
      if (!l) return;
      lines.push(l.who ? "[" + clock(l.at) + "] " + l.who + ": " + l.text : "— " + l.text + " —");
    });
    lines.push("", W.ended);
    var url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/plain;charset=utf-8" }));
    var a = h("a", { href: url, download: "chat-transcript-" + new Date().toISOString().slice(0, 10) + ".txt", hidden: true });
    root.appendChild(a);
    a.click();
    root.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }
  function survey() {
    var box = h("form", { cls: "survey", novalidate: true, "aria-label": W.surveyTitle });
    var stars = h("div", { cls: "stars" });
    var labels = [];
    for (var i = 1; i <= 5; i++) {
      var radio = h("input", { type: "radio", name: "sb-rating", value: String(i), id: "sb-star" + i });
      var label = h("label", { "for": "sb-star" + i }, [radio, h("span", { "aria-hidden": "true", text: "★" }), h("span", { cls: "vh", text: t("stars", i) })]);
      labels.push(label);
      stars.appendChild(label);
    }
    stars.addEventListener("change", function () {
      var v = Number((stars.querySelector(":checked") || {}).value || 0);
      labels.forEach(function (l, k) { l.classList.toggle("on", k < v); });
    });
    var comment = h("textarea", { id: "sb-comment", rows: "2", maxlength: "2000" });
    var err = h("p", { cls: "err", role: "alert" });
    function finish() {
      S.survey = true;
      save();
      var thanks = h("p", { tabindex: "-1", text: W.thanks });
      box.parentNode.replaceChild(thanks, box);
      thanks.focus({ preventScroll: true });
    }
    box.appendChild(h("fieldset", {}, [h("legend", { text: W.surveyTitle }), stars]));
    box.appendChild(h("label", { "for": "sb-comment", cls: "f", text: W.comment }));
    box.appendChild(comment);
    box.appendChild(err);
    box.appendChild(h("div", { cls: "btns" }, [
      h("button", { type: "submit", cls: "btn", text: W.surveySend }),
      h("button", { type: "button", cls: "btn btn2", text: W.skip, onclick: finish })
    ]));
    box.addEventListener("submit", function (e) {
      e.preventDefault();
      var rating = Number((stars.querySelector(":checked") || {}).value || 0);
      if (!rating) { err.textContent = W.errRating; return; }
      var body = { rating: rating };
      if (comment.value.trim()) body.comment = comment.value.trim().slice(0, 2000);
      call("/sessions/" + enc(S.id) + "/survey", { method: "POST", auth: true, json: body }).then(function (r) {
        if (r.ok || r.status === 409 || r.status === 404) finish();
        else err.textContent = r.status === 429 ? W.errBusy : W.errGeneric;
      }, function () { err.textContent = W.errNetwork; });
    });
    return box;
  }

  /* ---------- files ---------- */
  function typeAllowed(type) {
    var types = cfg.uploads.types || [];
    if (!types.length) return true;
    return types.some(function (x) { return x === type || (/\/\*$/.test(x) && type.indexOf(x.slice(0, -1)) === 0); });
  }
  function size(n) { return n >= 1048576 ? Math.round(n / 104857.6) / 10 + " MB" : Math.round(n / 1024) + " KB"; }
  function onFile() {
    var file = attachIn.files && attachIn.files[0];
    attachIn.value = "";
    if (!file || !S || S.ended) return;
    composerErr.textContent = "";
    if (file.size > cfg.uploads.maxBytes) { composerErr.textContent = t("fileTooLarge", size(cfg.uploads.maxBytes)); return; }
    if (!typeAllowed(file.type)) { composerErr.textContent = W.fileType; return; }
    var b = bubbleMine("file:" + uuid(), null, Date.now(), file.name);
    b.seen = true;
    upload(file, b);
    scrollDown(true);
  }
  function upload(file, b) {
    setMine(b, "sending");
    call("/sessions/" + enc(S.id) + "/files?name=" + enc(file.name), { method: "POST", auth: true, body: file, headers: { "content-type": file.type || "application/octet-stream" } }).then(function (r) {
      return readProblem(r).then(function (p) {
        if (r.status === 201 || r.ok) {
          if (p.id) {
            // The server puts the file in the conversation as "file:ID": that event is this
            // bubble (if it came first, its own bubble goes).
            var key = "file:" + p.id, dup = mine[key];
            if (dup && dup !== b && dup.node.parentNode) dup.node.parentNode.removeChild(dup.node);
            if (dup && dup !== b) b.seq = b.seq || dup.seq;
            fileIds[p.id] = true;
            mine[key] = b;
            b.seen = !!dup || b.seen;
          }
          return setMine(b, "sent");
        }
        if (r.status === 413 || r.status === 415) {
          setMine(b, "failed");
          composerErr.textContent = r.status === 413 ? t("fileTooLarge", size(cfg.uploads.maxBytes)) : W.fileType;
          return;
        }
        setMine(b, "failed", function () { upload(file, b); });
      });
    }, function () { setMine(b, "failed", function () { upload(file, b); }); });
  }
})();
