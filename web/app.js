// The thinking-box page. A course starts with `POST /v1/jobs`, which answers with a status and,
// when it refuses, the server's own words and a Retry-After; an EventSource cannot read either.
// The job's events then come over an EventSource on its `events_url`, which the browser reopens
// by itself with Last-Event-ID, so a cut connection resumes the same job.
// Everything printed by a job is inserted as text, never as markup; the course arrives as
// HTML rendered on the server from escaped Markdown (raw HTML disabled there), and the page only
// rearranges it: a table of contents and quiz answers behind buttons. When there is no course on
// the subject (a "declined" answer: a short note instead), the subjects the `complete` event lists
// as `nearby` become buttons that start their course.
"use strict";

const EXAMPLES = ["generators", "exceptions", "context managers", "string formatting",
                  "dictionaries", "async/await", "threading", "json"];
const MAX_LOG_NODES = 4000;  // keep a very chatty job from growing the page without bound
const TOC_MIN_SECTIONS = 4;  // a course with fewer second-level headings needs no contents
const MAX_WAIT_SECONDS = 120;  // a Retry-After longer than this is not worth waiting for in a page
const MAX_REOPENS = 2;  // a stream closed for good is reopened from its last event this often in a row
// "?model=ticker" runs the diagnostic job instead, to check a proxy chain from a browser.
const MODEL = new URLSearchParams(window.location.search).get("model");

const $ = (id) => document.getElementById(id);
const form = $("form"), subjectInput = $("subject"), generateButton = $("generate"), stopButton = $("stop");
const statusLine = $("status"), thinking = $("thinking"), log = $("log"), phase = $("phase");
const elapsed = $("elapsed"), errorBox = $("error"), course = $("course");
const sources = $("sources"), sourceList = $("source-list");
const notice = $("notice"), noticeMessage = $("notice-message"), countdown = $("countdown");
const toc = $("toc"), tocList = $("toc-list"), toContents = $("to-contents");
const actions = $("actions"), actionStatus = $("action-status");
const suggestions = $("suggestions"), suggestionList = $("suggestion-list");

let apiKey = sessionStorage.getItem("apiKey") || "";  // only when the server asks for one
let run = 0;            // bumped by every start and by Stop: late answers of an older run are ignored
let source = null;      // the open EventSource, if any
let jobId = null;       // the server's job
let lastEventId = "";   // "job_…:<seq>" of the last event received
let reopens = 0;        // streams reopened by the page since the last event arrived
let lostSince = 0;      // when the browser began reconnecting (0: connected)
const PATIENCE_MS = 15000;  // after this long without the server, say so and offer Stop
let markdown = "";      // the finished course, for Copy and Download
let title = "";         // the subject it was asked for, for the file name
let startedAt = 0;
let timer = 0;

// -- running state --------------------------------------------------------------------------

function setRunning(running) {
  generateButton.disabled = running;
  stopButton.disabled = !running;
  subjectInput.readOnly = running;
  window.clearInterval(timer);
  if (running) {
    startedAt = performance.now();
    timer = window.setInterval(showElapsed, 100);
  } else {
    showElapsed();
  }
}

function showElapsed() {
  elapsed.textContent = ((performance.now() - startedAt) / 1000).toFixed(1) + " s";
}

function closeStream() {
  if (source) {
    source.close();  // a closed EventSource does not reconnect
    source = null;
  }
}

function finish(message, phaseText) {
  closeStream();
  notice.hidden = true;
  setRunning(false);
  statusLine.textContent = message;
  if (phaseText) phase.textContent = phaseText;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function reset() {
  closeStream();
  log.replaceChildren();
  course.replaceChildren();
  tocList.replaceChildren();
  toc.hidden = true;
  toContents.hidden = true;
  errorBox.hidden = true;
  notice.hidden = true;
  sources.hidden = true;
  suggestions.hidden = true;
  suggestionList.replaceChildren();
  actions.hidden = true;
  actionStatus.textContent = "";
  phase.textContent = "";
  thinking.hidden = true;
  jobId = null;
  lastEventId = "";
  reopens = 0;
  lostSince = 0;
  markdown = "";
}

// -- talking to the server ------------------------------------------------------------------

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
  return fetch(path, Object.assign({}, options, { headers }));
}

// The server's own words for a refused request: OpenAI's error body, or the status line.
async function serverMessage(response) {
  let text = "";
  try { text = await response.text(); } catch (_) { /* the body is gone: the status must do */ }
  try {
    const body = JSON.parse(text);
    const message = body && (body.error ? body.error.message : body.message);
    if (typeof message === "string" && message) return message;
  } catch (_) { /* not JSON: a proxy's page */ }
  return "The server answered " + response.status + (response.statusText ? " " + response.statusText : "") + ".";
}

// Retry-After is either seconds or an HTTP date.
function retryAfterSeconds(response) {
  const value = (response.headers.get("Retry-After") || "").trim();
  let seconds = /^\d+$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) seconds = 5;
  return Math.min(Math.max(Math.ceil(seconds), 1), MAX_WAIT_SECONDS);
}

function unreachable(error) {
  return "The server cannot be reached (" + (error && error.message ? error.message : error) + ").";
}

function askForKey(message) {
  $("key-form").hidden = false;
  if (message) showError(message);
  $("api-key").focus();
}

// The subject a missing or wrong key kept from starting: it starts once a key is given.
let waitingForKey = "";

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  apiKey = $("api-key").value.trim();
  sessionStorage.setItem("apiKey", apiKey);
  $("key-form").hidden = true;
  errorBox.hidden = true;
  loadKnowledgeBase();
  const subject = waitingForKey;
  waitingForKey = "";
  if (subject) start(subject);
});

// A refused request: the server's message, and the key form when the key was the reason.
async function refused(response, mine, subject) {
  const message = await serverMessage(response);
  if (mine !== run) return;
  if (response.status === 401) {
    askForKey(message);
    if (subject) {
      waitingForKey = subject;
      finish("Waiting for an API key: the course starts once it is given.", "");
      return;
    }
  } else {
    showError(message);
  }
  finish("Not started: the server refused (" + response.status + ").", "");
}

// Count down in the notice box; resolves true when the time is up, false if Stop came first.
function waitToRetry(seconds, message, mine) {
  noticeMessage.textContent = message;
  countdown.textContent = String(seconds);
  notice.hidden = false;
  statusLine.textContent = "Waiting " + seconds + " s, then trying once more.";
  const until = performance.now() + seconds * 1000;
  return new Promise((resolve) => {
    const tick = window.setInterval(() => {
      if (mine !== run) { window.clearInterval(tick); resolve(false); return; }
      const left = Math.ceil((until - performance.now()) / 1000);
      if (left > 0) { countdown.textContent = String(left); return; }
      window.clearInterval(tick);
      notice.hidden = true;
      resolve(true);
    }, 200);
  });
}

async function start(subject) {
  const mine = ++run;
  reset();
  title = subject;
  statusLine.textContent = "Starting a course on “" + subject + "”…";
  setRunning(true);
  const body = JSON.stringify(MODEL ? { model: MODEL, input: subject } : { input: subject });
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await api("/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    } catch (error) {
      if (mine !== run) return;
      showError(unreachable(error));
      finish("Not started.", "");
      return;
    }
    if (mine !== run) {  // stopped while the request was under way: end the job it started
      if (response.ok) response.json().then((job) => stopJob(job.id)).catch(() => {});
      return;
    }
    if (response.ok) {
      const job = await response.json();
      if (mine !== run) { stopJob(job.id); return; }
      jobId = job.id;
      await openStream(job.events_url || "/v1/jobs/" + encodeURIComponent(job.id) + "/events", subject, mine);
      return;
    }
    // Busy: wait as long as the server asks, then try once more by ourselves.
    if (response.status === 429 && attempt === 1) {
      const seconds = retryAfterSeconds(response);
      const message = await serverMessage(response);
      if (mine !== run || !(await waitToRetry(seconds, message, mine))) return;
      statusLine.textContent = "Trying again…";
      continue;
    }
    await refused(response, mine, subject);
    return;
  }
}

function stopJob(id) {
  api("/v1/jobs/" + encodeURIComponent(id), { method: "DELETE" }).catch(() => {});
}

// EventSource cannot send headers: with a key, the stream is opened with a short-lived token.
async function streamToken(mine) {
  let response;
  try {
    response = await api("/v1/stream-tokens", { method: "POST" });
  } catch (error) {
    if (mine === run) { showError(unreachable(error)); finish("Stopped.", "stopped"); }
    return null;
  }
  if (mine !== run) return null;
  if (!response.ok) { await refused(response, mine); return null; }
  return (await response.json()).token;
}

async function openStream(eventsUrl, subject, mine) {
  const params = new URLSearchParams();
  if (apiKey) {
    const token = await streamToken(mine);
    if (token === null) {
      if (mine === run && jobId) stopJob(jobId);  // a job nobody can read is not left running
      return;
    }
    params.set("access_token", token);
  }
  if (mine !== run) return;
  // A stream opened anew (not by the browser's own reconnect) says where it left off.
  if (lastEventId) params.set("last_event_id", lastEventId);
  const query = params.toString();
  const url = eventsUrl + (query ? (eventsUrl.includes("?") ? "&" : "?") + query : "");

  thinking.hidden = false;
  if (!lastEventId) {
    thinking.open = true;
    statusLine.textContent = "Generating a course on “" + subject + "”…";
  }
  closeStream();
  source = new EventSource(url);
  const seen = (e) => {
    if (e.lastEventId) lastEventId = e.lastEventId;
    reopens = 0;
    lostSince = 0;
    if (statusLine.dataset.reconnecting) {
      delete statusLine.dataset.reconnecting;
      statusLine.textContent = "Reconnected: resuming the same job.";
    }
  };
  source.addEventListener("progress", (e) => { seen(e); appendLog(e.data); });
  source.addEventListener("progress-update", (e) => { seen(e); replaceLastLine(e.data); });
  source.addEventListener("gap", (e) => {
    seen(e);
    appendLog("[" + JSON.parse(e.data).message + "]\n");
  });
  source.addEventListener("content", seen);
  source.addEventListener("html", (e) => {
    course.insertAdjacentHTML("beforeend", e.data);
    enhanceCourse(course);  // answers go behind their buttons before anyone can read them
  });
  source.addEventListener("complete", (e) => {
    seen(e);
    closeStream();  // the job is over: the end of its stream is not a lost connection
    showAnswer(JSON.parse(e.data), subject, mine);
  });
  source.addEventListener("error", (e) => {
    if (mine !== run) return;
    if (e.data) {  // an error event sent by the server: the job failed
      let message = e.data;
      try { message = JSON.parse(e.data).message; } catch (_) { /* plain text */ }
      showError("The course could not be generated: " + message);
      finish("Failed.", "failed");
    } else if (source && source.readyState === EventSource.CONNECTING) {
      // The browser retries for ever: after a while, say that the server is not answering.
      if (!lostSince) lostSince = Date.now();
      const away = Date.now() - lostSince;
      statusLine.dataset.reconnecting = "1";
      statusLine.textContent = away < PATIENCE_MS ? "Connection lost: reconnecting…"
        : "The server has not answered for " + Math.round(away / 1000) + " s; still trying. " +
          "Press Stop to give up.";
    } else if (source) {  // closed for good: ask the server what became of the job
      closeStream();
      explainClosedStream(eventsUrl, subject, mine);
    }
  });
}

// The job's answer: a course, or a short note that there is none on the subject.
async function showAnswer(result, subject, mine) {
  // The whole answer as rendered on the server: complete even if a reconnect came
  // between a part and its HTML.
  course.innerHTML = result.html;
  enhanceCourse(course);
  thinking.open = false;
  finish(statusLine.textContent, "done");  // the clock stops here; the status says what came
  const took = elapsed.textContent;
  const isCourse = !(await declined(result));
  if (mine !== run) return;
  if (!isCourse) {
    // Not a course: nothing to copy or download, no contents; what it does cover, one click away.
    const offered = showSuggestions(result.nearby);
    statusLine.textContent = "There is no course on “" + subject + "”" + (offered.length
      ? ". Nearby subjects you can start instead: " + offered.join(", ") + "."
      : ": the note below says why.");
    return;
  }
  // The course lists its own sources; the list from the event is for answers that do not.
  if (!findHeading(course, /^sources?$/i)) showSources(result.sources || []);
  buildContents();
  markdown = result.markdown || "";
  actions.hidden = markdown === "";
  statusLine.textContent = "Done in " + took + ".";
}

// Whether the answer is a note saying there is no course (`known: false`) rather than a course.
// When the `complete` event does not say, the job's own resource does (its `result.known`).
async function declined(result) {
  if (typeof result.known === "boolean") return !result.known;
  const id = result.job || jobId;
  if (!id) return false;
  try {
    const response = await api("/v1/jobs/" + encodeURIComponent(id));
    if (!response.ok) return false;
    const job = await response.json();
    return Boolean(job && job.result) && job.result.known === false;
  } catch (_) {
    return false;  // cannot tell: shown as the answer it is, with Copy and Download
  }
}

// The `nearby` subjects of a declined answer as buttons that start their course; returns their
// names. An entry is a document's title, or an object with one (`title`, as in `sources`):
// "os — Miscellaneous operating system interfaces" starts a course on the name before the dash.
function showSuggestions(nearby) {
  suggestionList.replaceChildren();
  const names = [];
  for (const item of Array.isArray(nearby) ? nearby : []) {
    const title = String((item && typeof item === "object" ? item.title : item) || "").trim();
    const [name, ...rest] = title.split(/\s+[—–]\s+/);
    const subject = name.replace(/`/g, "").trim();
    if (!subject || names.includes(subject)) continue;
    names.push(subject);
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "suggestion";
    button.textContent = subject;
    button.addEventListener("click", () => {
      if (generateButton.disabled) return;
      subjectInput.value = subject;
      start(subject);
    });
    li.append(button);
    if (rest.length) li.append(document.createTextNode(" — " + rest.join(" — ")));
    suggestionList.append(li);
  }
  suggestions.hidden = names.length === 0;
  return names;
}

// The browser gave up on the stream (a refused reconnect, an expired token, a proxy's error page):
// the job's own resource says why, in the server's words, or the stream is opened anew.
async function explainClosedStream(eventsUrl, subject, mine) {
  let response;
  try {
    response = await api("/v1/jobs/" + encodeURIComponent(jobId));
  } catch (error) {
    if (mine === run) { showError(unreachable(error)); finish("Stopped.", "stopped"); }
    return;
  }
  if (mine !== run) return;
  if (!response.ok) {
    const message = await serverMessage(response);
    if (mine !== run) return;
    // A 404: the server that answers now has never heard of the job (it restarted, or another took its place).
    showError(response.status === 404
      ? "The connection was lost, and the server no longer has this job (it may have restarted), so the " +
        "course cannot resume: press Generate to start it again. The server says: " + message
      : message);
    finish("Stopped.", "stopped");
    return;
  }
  const job = await response.json();
  if (mine !== run) return;
  if (reopens < MAX_REOPENS) {
    reopens++;
    statusLine.dataset.reconnecting = "1";
    statusLine.textContent = "Connection lost: reopening the stream…";
    await openStream(eventsUrl, subject, mine);
    return;
  }
  showError("The stream ended before the course arrived (the job is " + job.status + ").");
  finish("Stopped.", "stopped");
}

// A progress bar's new state (a few a second at most): it takes the place of the last line.
function replaceLastLine(text) {
  const node = log.lastChild;
  if (!node || node.nodeType !== Node.TEXT_NODE) return appendLog(text);
  const before = node.data.endsWith("\n") ? node.data.slice(0, -1) : node.data;
  node.data = before.slice(0, before.lastIndexOf("\n") + 1) + text;
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

// -- the course, rearranged -----------------------------------------------------------------
// Each step works from the structure of the rendered HTML and leaves it alone when the
// structure is not what it expects; each can run again over a course that grew.

function enhanceCourse(root) {
  hideQuizAnswers(root);
}

const LEVEL = (el) => Number(el.tagName.slice(1));
const isHeading = (el) => /^H[1-6]$/.test(el.tagName);

function findHeading(root, pattern) {
  return [...root.querySelectorAll("h1, h2, h3, h4")].find((h) => pattern.test(h.textContent.trim()));
}

// The elements after a heading, up to the next heading of the same or a higher level.
function sectionOf(heading) {
  const nodes = [];
  for (let el = heading.nextElementSibling; el; el = el.nextElementSibling) {
    if (isHeading(el) && LEVEL(el) <= LEVEL(heading)) break;
    nodes.push(el);
  }
  return nodes;
}

let answerCount = 0;

function revealButton(answer) {
  answer.id = "answer-" + (++answerCount);
  answer.hidden = true;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "reveal";
  button.textContent = "Show answer";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", answer.id);
  button.addEventListener("click", () => {
    answer.hidden = !answer.hidden;
    button.setAttribute("aria-expanded", String(!answer.hidden));
    button.textContent = answer.hidden ? "Show answer" : "Hide answer";
  });
  return button;
}

function hideQuizAnswers(root) {
  const quiz = findHeading(root, /\bquiz\b/i);
  if (!quiz) return;
  const section = sectionOf(quiz);
  const answersHeading = section.find((el) => isHeading(el) && /^answers?\b/i.test(el.textContent.trim()));
  const questions = section.find((el) => el.matches("ol, ul") && (!answersHeading || section.indexOf(el) < section.indexOf(answersHeading)));
  if (!questions) return;
  const items = [...questions.children].filter((li) => li.tagName === "LI" && !li.querySelector(":scope > .reveal"));
  if (answersHeading) {
    // "### Answers" and a list, one answer per question, in the same order.
    if (answersHeading.hidden) return;
    const list = answersHeading.nextElementSibling;
    if (!list || !list.matches("ol, ul")) return;  // the answers have not arrived yet
    const answers = [...list.children].filter((li) => li.tagName === "LI");
    if (answers.length === items.length) {
      items.forEach((li, i) => {
        const answer = document.createElement("div");
        answer.className = "answer";
        answer.append(...answers[i].childNodes);
        const label = document.createElement("strong");
        label.textContent = "Answer: ";
        const first = answer.firstElementChild;  // a loose list's item holds paragraphs
        (first && first.tagName === "P" && !answer.firstChild.textContent.trim() ? first : answer).prepend(label);
        li.append(revealButton(answer), answer);
      });
      answersHeading.hidden = list.hidden = true;
    } else {
      // The answers do not pair with the questions: one button for all of them.
      const block = document.createElement("div");
      block.className = "answer";
      answersHeading.before(block);
      block.append(answersHeading, list);
      block.before(revealButton(block));
    }
    return;
  }
  // "Answer: …" inside each question: everything from there to the item's end.
  for (const li of items) {
    const walker = document.createTreeWalker(li, NodeFilter.SHOW_TEXT);
    let node, at = -1;
    while ((node = walker.nextNode())) {
      at = node.data.search(/\banswers?\s*:/i);
      if (at >= 0) break;
    }
    if (!node) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(li, li.childNodes.length);
    const answer = document.createElement("div");
    answer.className = "answer";
    answer.append(range.extractContents());
    li.append(revealButton(answer), answer);
  }
}

function slug(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[^\w\s-]/g, "").trim().replace(/[\s_-]+/g, "-").slice(0, 60);
}

// A table of contents from the course's h2 and h3 headings, for courses long enough to need one.
function buildContents() {
  tocList.replaceChildren();
  const headings = [...course.querySelectorAll("h2, h3")].filter((h) => !h.hidden && !h.closest("[hidden]"));
  const used = new Set();
  for (const heading of headings) {
    let id = "c-" + (slug(heading.textContent) || "section"), n = 2;
    while (used.has(id) || (document.getElementById(id) && document.getElementById(id) !== heading)) id = "c-" + slug(heading.textContent) + "-" + n++;
    used.add(id);
    heading.id = id;
  }
  const sections = headings.filter((h) => h.tagName === "H2");
  if (sections.length < TOC_MIN_SECTIONS) { toc.hidden = toContents.hidden = true; return; }
  let current = null;
  for (const heading of headings) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#" + heading.id;
    link.textContent = link.title = heading.textContent;
    li.append(link);
    if (heading.tagName === "H2" || !current) {
      tocList.append(li);
      current = li;
    } else {
      let sub = current.querySelector(":scope > ol");
      if (!sub) { sub = document.createElement("ol"); current.append(sub); }
      sub.append(li);
    }
  }
  // Open beside the course on a wide screen; folded above it on a narrow one.
  $("toc-box").open = window.matchMedia("(min-width: 86rem)").matches;
  toc.hidden = toContents.hidden = false;
}

toContents.addEventListener("click", () => { $("toc-box").open = true; });

// -- Copy and Download ----------------------------------------------------------------------

function say(message) {
  actionStatus.textContent = message;
}

$("copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(markdown);
    say("Copied the course as Markdown.");
  } catch (_) {
    // No clipboard API (an insecure origin, or permission refused): the old way.
    const area = document.createElement("textarea");
    area.value = markdown;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    say(copied ? "Copied the course as Markdown." : "Copying is not allowed here: use Download .md.");
  }
});

$("download").addEventListener("click", () => {
  const blob = new Blob([markdown], { type: "text/markdown;charset=utf-8" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = (slug(title) || "course") + ".md";
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  say("Downloaded " + link.download + ".");
});

// -- the form -------------------------------------------------------------------------------

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const subject = subjectInput.value.trim();
  if (subject) start(subject);
});

stopButton.addEventListener("click", () => {
  run++;  // a countdown or a request under way ends here
  // Closing the stream alone would leave the job waiting for a reconnect: cancel it.
  if (jobId) stopJob(jobId);
  finish("Stopped.", thinking.hidden ? "" : "stopped");
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
  button.addEventListener("click", () => {
    if (generateButton.disabled) return;
    subjectInput.value = example;
    start(example);
  });
  $("example-buttons").append(button);
}

async function loadKnowledgeBase() {
  const kb = $("kb");
  try {
    const response = await api("/v1/knowledge-base");
    if (response.ok) { kb.textContent = (await response.json()).description; return; }
    const message = await serverMessage(response);
    if (response.status === 401) {
      askForKey(apiKey ? message : "");
      kb.textContent = "shown once you give an API key";  // the key form says the rest
      return;
    }
    kb.textContent = "unavailable (" + message + ")";
  } catch (error) {
    kb.textContent = "unavailable (" + unreachable(error) + ")";
  }
}

loadKnowledgeBase();
