// The thinking-box page: one EventSource per course, closed on complete, error or Stop.
// Everything printed by a job is inserted as text, never as markup; the course arrives as
// HTML rendered on the server from escaped Markdown (raw HTML disabled there).
"use strict";

const EXAMPLES = ["generators", "exceptions", "context managers", "string formatting",
                  "dictionaries", "async/await", "threading", "json"];
const MAX_LOG_NODES = 4000;  // keep a very chatty job from growing the page without bound
// "?model=ticker" runs the diagnostic job instead, to check a proxy chain from a browser.
const MODEL = new URLSearchParams(window.location.search).get("model");

const $ = (id) => document.getElementById(id);
const form = $("form"), subjectInput = $("subject"), generateButton = $("generate"), stopButton = $("stop");
const statusLine = $("status"), thinking = $("thinking"), log = $("log"), phase = $("phase");
const elapsed = $("elapsed"), errorBox = $("error"), course = $("course");
const sources = $("sources"), sourceList = $("source-list");

let apiKey = sessionStorage.getItem("apiKey") || "";  // only when the server asks for one
let source = null;      // the open EventSource, if any
let jobId = null;       // the server's job, from the event ids ("job_…:<seq>")
let startedAt = 0;
let timer = 0;

function setRunning(running) {
  generateButton.disabled = running;
  stopButton.disabled = !running;
  subjectInput.readOnly = running;
  if (running) {
    startedAt = performance.now();
    timer = window.setInterval(showElapsed, 100);
  } else {
    window.clearInterval(timer);
    showElapsed();
  }
}

function showElapsed() {
  elapsed.textContent = ((performance.now() - startedAt) / 1000).toFixed(1) + " s";
}

function finish(message) {
  if (source) {
    source.close();  // done: a closed EventSource does not reconnect
    source = null;
  }
  setRunning(false);
  statusLine.textContent = message;
}

function appendLog(text) {
  // Follow the newest line unless the reader has scrolled up to read something.
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 16;
  log.append(document.createTextNode(text));
  while (log.childNodes.length > MAX_LOG_NODES) log.firstChild.remove();
  const phases = [...text.matchAll(/^PHASE (\d+): (.+)$/gm)];
  if (phases.length) {
    const last = phases[phases.length - 1];
    phase.textContent = "phase " + last[1] + ": " + last[2].toLowerCase();
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function showSources(list) {
  sourceList.replaceChildren();
  for (const item of list) {
    const li = document.createElement("li");
    const id = document.createElement("code");
    id.textContent = item.id;
    li.append(id, document.createTextNode(" " + item.title + " (relevance " + Number(item.score).toFixed(2) + ")"));
    sourceList.append(li);
  }
  sources.hidden = list.length === 0;
}

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
  return fetch(path, Object.assign({}, options, { headers }));
}

function askForKey(message) {
  $("key-form").hidden = false;
  if (message) showError(message);
  $("api-key").focus();
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  apiKey = $("api-key").value.trim();
  sessionStorage.setItem("apiKey", apiKey);
  $("key-form").hidden = true;
  errorBox.hidden = true;
  loadKnowledgeBase();
});

async function start(subject) {
  // EventSource cannot send headers: with a key, the stream is opened with a short-lived token.
  let token = "";
  if (apiKey) {
    const response = await api("/v1/stream-tokens", { method: "POST" });
    if (response.status === 401) { askForKey("The API key was refused."); return; }
    token = (await response.json()).token;
  }
  openStream(subject, token);
}

function openStream(subject, token) {
  if (source) source.close();
  log.replaceChildren();
  course.replaceChildren();
  errorBox.hidden = true;
  sources.hidden = true;
  phase.textContent = "";
  thinking.hidden = false;
  thinking.open = true;
  jobId = null;
  statusLine.textContent = "Generating a course on “" + subject + "”…";
  setRunning(true);

  let url = "/v1/courses/stream?subject=" + encodeURIComponent(subject);
  if (MODEL) url += "&model=" + encodeURIComponent(MODEL);
  if (token) url += "&access_token=" + encodeURIComponent(token);
  source = new EventSource(url);
  // If the connection drops, the browser reconnects by itself with Last-Event-ID and the
  // server resumes the same job exactly after the last event received.
  const seen = (e) => {
    if (e.lastEventId) jobId = e.lastEventId.split(":")[0];
    if (statusLine.dataset.reconnecting) {
      delete statusLine.dataset.reconnecting;
      statusLine.textContent = "Reconnected: resuming the same job.";
    }
  };
  source.addEventListener("progress", (e) => { seen(e); appendLog(e.data); });
  source.addEventListener("gap", (e) => {
    seen(e);
    appendLog("[" + JSON.parse(e.data).message + "]\n");
  });
  source.addEventListener("content", seen);
  source.addEventListener("html", (e) => course.insertAdjacentHTML("beforeend", e.data));
  source.addEventListener("complete", (e) => {
    const result = JSON.parse(e.data);
    // The whole course as rendered on the server: complete even if a reconnect came
    // between a part and its HTML.
    course.innerHTML = result.html;
    showSources(result.sources || []);
    thinking.open = false;
    finish("");
    statusLine.textContent = "Done in " + elapsed.textContent + ".";
  });
  source.addEventListener("error", (e) => {
    if (e.data) {  // an error event sent by the server: the job failed
      let message = e.data;
      try { message = JSON.parse(e.data).message; } catch (_) { /* plain text */ }
      showError("The course could not be generated: " + message);
      finish("Failed.");
    } else if (source && source.readyState === EventSource.CONNECTING) {
      statusLine.dataset.reconnecting = "1";
      statusLine.textContent = "Connection lost: reconnecting…";
    } else if (source) {  // closed for good (the server refused, or the job is gone)
      showError("The connection to the server was lost.");
      finish("Stopped.");
    }
  });
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const subject = subjectInput.value.trim();
  if (subject) start(subject);
});

stopButton.addEventListener("click", () => {
  // Closing the stream alone would leave the job waiting for a reconnect: cancel it.
  if (jobId) api("/v1/jobs/" + encodeURIComponent(jobId), { method: "DELETE" }).catch(() => {});
  finish("Stopped.");
  subjectInput.focus();
});

for (const example of EXAMPLES) {
  const option = document.createElement("option");
  option.value = example;
  $("examples").append(option);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "example";
  button.textContent = example;
  button.addEventListener("click", () => { subjectInput.value = example; start(example); });
  $("example-buttons").append(button);
}

function loadKnowledgeBase() {
  api("/v1/knowledge-base")
    .then((r) => {
      if (r.status === 401) { askForKey(apiKey ? "The API key was refused." : ""); return Promise.reject(401); }
      return r.ok ? r.json() : Promise.reject(r.status);
    })
    .then((kb) => { $("kb").textContent = kb.description; })
    .catch(() => { $("kb").textContent = "(unavailable)"; });
}

loadKnowledgeBase();
