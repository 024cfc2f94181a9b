// The CMS edit UI's realtime client (epi/shell/socket/hub), as pytest_wsharness/client/machine.py
// models it; the two follow REFERENCE.md section 1 and are held to the same assertions.
//   - settings say enableWebSockets false: no socket, ever;
//   - on open: failures reset, "reconnecting" dismissed, a heartbeat sent, then a check every
//     3 s: anything received since resets the count; 2 unanswered close the socket (unclean);
//   - only unclean closes fail; after failure n (1..8) the next attempt waits 5 s x n^2;
//     "reconnecting" shows at failure 3, "reconnect-failed" at failure 9, which gives up;
//   - a first connect that never opened is the last attempt: the "noconnection" modal, no retry.
// Every timing is multiplied by the page's ?timeScale= (1 by default).
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("wsharness-config").textContent);
  const routes = config.routes;
  const scale = Number(new URLSearchParams(location.search).get("timeScale") || "1");
  const HEARTBEAT_INTERVAL = 3000 * scale;
  const RECONNECT_BASE = 5000 * scale;
  const MAX_RECONNECTS = 8;
  const SAVED = 1;
  const DELETED = 2;

  const body = document.body;
  const badge = document.getElementById("badge");
  const projectsList = document.getElementById("projects");
  const dialogs = document.getElementById("dialogs");
  const stateLabel = document.getElementById("state");

  let state = "idle";
  let failures = 0;
  let everOpened = false;
  let unanswered = 0;
  let receivedSinceCheck = false;
  let closing = false; // between a close() we asked for and its close event
  let socket = null;
  let heartbeatTimer = null;
  let reconnectTimer = null;
  let dialogCount = 0;
  const visible = {};
  const reconnectDelays = [];

  // Lets a test harness know the page changed, so that it reads the DOM then, not by polling.
  function changed() {
    if (typeof window.wsharnessChanged === "function") {
      window.wsharnessChanged();
    }
  }

  function setState(value) {
    state = value;
    body.dataset.state = value;
    stateLabel.textContent = value;
    changed();
  }

  function show(kind) {
    if (visible[kind]) return;
    const dialog = document.createElement("div");
    dialogCount += 1;
    dialog.id = "dialog-" + dialogCount;
    dialog.className = "dialog";
    dialog.setAttribute("role", "dialog");
    dialog.dataset.dialog = kind;
    dialog.textContent = config.dialogs[kind];
    dialogs.appendChild(dialog);
    visible[kind] = dialog;
    changed();
  }

  function hide(kind) {
    const dialog = visible[kind];
    if (!dialog) return;
    dialog.remove();
    delete visible[kind];
    changed();
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  function renderProject(project) {
    const id = String(project.id);
    let item = projectsList.querySelector('li[data-id="' + CSS.escape(id) + '"]');
    if (!item) {
      item = document.createElement("li");
      item.dataset.id = id;
      projectsList.appendChild(item);
    }
    item.textContent = project.name || id;
  }

  function removeProject(id) {
    const item = projectsList.querySelector('li[data-id="' + CSS.escape(String(id)) + '"]');
    if (item) item.remove();
  }

  async function refetchProject(id) {
    try {
      renderProject(await getJson(routes.projects + "/" + encodeURIComponent(id)));
    } catch (error) {
      // A failed XHR leaves the list as it was; the page goes on.
      console.warn("project " + id + " not re-fetched: " + error.message);
    }
    changed();
  }

  function deliver(topic, data) {
    const items = (Array.isArray(data) ? data : [data]).filter((i) => i && typeof i === "object");
    for (const item of items) {
      const action = item.action === undefined ? SAVED : item.action;
      if (topic === config.topics.notification && action === SAVED) {
        badge.textContent = String(Number(badge.textContent) + 1);
      } else if (topic === config.topics.project) {
        if (action === DELETED) removeProject(item.id);
        else refetchProject(item.id);
      }
    }
    changed();
  }

  function sendHeartbeat() {
    unanswered += 1;
    socket.send(config.heartbeat);
  }

  function heartbeatCheck() {
    if (receivedSinceCheck) {
      receivedSinceCheck = false;
      unanswered = 0;
    } else if (unanswered >= 2) {
      closing = true;
      socket.close();
      fail();
      return;
    } else {
      sendHeartbeat();
    }
    heartbeatTimer = setTimeout(heartbeatCheck, HEARTBEAT_INTERVAL);
  }

  function connect() {
    closing = false;
    setState("connecting");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + routes.endpoint);
    socket = ws;
    ws.onopen = () => opened(ws);
    ws.onmessage = (event) => received(ws, event.data);
    ws.onclose = (event) => closed(ws, event.wasClean);
  }

  function opened(ws) {
    if (ws !== socket) return;
    everOpened = true;
    failures = 0;
    unanswered = 0;
    receivedSinceCheck = false;
    setState("connected");
    hide("reconnecting");
    sendHeartbeat();
    heartbeatTimer = setTimeout(heartbeatCheck, HEARTBEAT_INTERVAL);
  }

  function received(ws, text) {
    if (ws !== socket || closing || typeof text !== "string") return;
    receivedSinceCheck = true;
    if (text === config.heartbeat) return;
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    if (message && typeof message.topic === "string") deliver(message.topic, message.data);
  }

  function closed(ws, clean) {
    if (ws !== socket) return;
    socket = null;
    if (closing) {
      closing = false; // the close we asked for: already counted
      return;
    }
    clearTimeout(heartbeatTimer);
    if (state === "connecting") {
      connectFailed();
    } else if (clean) {
      scheduleReconnect(); // 5 s x 0^2: at once
    } else {
      fail();
    }
  }

  function connectFailed() {
    if (everOpened) {
      fail();
      return;
    }
    failures = 1;
    show("noconnection");
    setState("no-connection");
  }

  function fail() {
    clearTimeout(heartbeatTimer);
    failures += 1;
    if (failures > MAX_RECONNECTS) {
      hide("reconnecting");
      show("reconnect-failed");
      setState("gave-up");
      return;
    }
    if (failures === 3) show("reconnecting");
    scheduleReconnect();
  }

  function scheduleReconnect() {
    const delay = RECONNECT_BASE * failures * failures;
    reconnectDelays.push(delay / 1000);
    body.dataset.reconnectDelays = reconnectDelays.join(",");
    setState("waiting-to-reconnect");
    reconnectTimer = setTimeout(connect, delay);
  }

  async function load() {
    try {
      const settings = await getJson(routes.settings);
      const unread = await getJson(routes.unread_count);
      body.dataset.websocketEnabled = String(settings.enableWebSockets !== false);
      badge.textContent = String(unread.count || 0);
      for (const project of await getJson(routes.projects)) renderProject(project);
      body.dataset.loaded = "true";
      if (settings.enableWebSockets === false) {
        setState("disabled");
        return;
      }
      connect();
    } catch (error) {
      body.dataset.loaded = "failed";
      console.error("the page could not load: " + error.message);
      changed();
    }
  }

  // The page's own controls work whatever the realtime connection does.
  document.getElementById("reload-projects").addEventListener("click", async () => {
    try {
      for (const project of await getJson(routes.projects)) renderProject(project);
    } catch (error) {
      console.warn("projects not reloaded: " + error.message);
    }
    changed();
  });

  window.addEventListener("pagehide", () => {
    clearTimeout(heartbeatTimer);
    clearTimeout(reconnectTimer);
    if (socket) {
      closing = true;
      socket.close(1001);
    }
  });
  load();
})();
