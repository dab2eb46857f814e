"""The thinking-box page in a real browser: Debian's chromium driven by Playwright.

Screenshots of what each test saw go to ``artifacts/`` (``page-wide.png`` is the README's picture).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, Request, Response, Route, expect, sync_playwright

from tests.proxy import CuttingProxy, Streams
from tests.server import ROOT, ServerProcess, free_port, server_whose_knowledge_base_breaks

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"

# Flags for a sandboxed, offline machine: no background networking, no GPU, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Records when the first thinking-box line and the first piece of course appear, and whether a
# quiz answer was ever on screen before its button was pressed.
OBSERVE = """
window.__seen = {};
window.__answerShown = false;
document.addEventListener("DOMContentLoaded", () => {
  const mark = (name) => () => { if (!(name in window.__seen)) window.__seen[name] = performance.now(); };
  new MutationObserver(mark("log")).observe(document.getElementById("log"), {childList: true});
  const course = document.getElementById("course");
  new MutationObserver(() => {
    mark("course")();
    for (const h of course.querySelectorAll("h3")) {
      if (/^answers/i.test(h.textContent) && h.checkVisibility()) window.__answerShown = true;
    }
  }).observe(course, {childList: true});
});
"""


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for something outside the browser (the server's output), with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@contextlib.contextmanager
def open_page(browser: Browser, width: int = 1100, height: int = 900, mobile: bool = False) -> Iterator[Page]:
    """A page in a context of its own; no script from a subject may run, and nothing it asks for is missing."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=mobile, has_touch=mobile, accept_downloads=True
    )
    context.set_default_timeout(20_000)
    opened = context.new_page()
    opened.add_init_script(OBSERVE)
    dialogs: list[str] = []
    missing: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_response(response: Response) -> None:
        if response.status == 404 and "/v1/" not in response.url:  # the API's answers are tested by name
            missing.append(response.url)

    opened.on("dialog", on_dialog)
    opened.on("response", on_response)
    try:
        yield opened
    finally:
        context.close()
    assert dialogs == [], "no script from a subject or a document may run"
    assert missing == [], "every request of the page finds what it asks for (the favicon too)"


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    with open_page(browser) as opened:
        yield opened


# The status line once the job has answered: a course, or a note that there is none.
FINISHED = re.compile(r"^(Done in |There is no course on “)")


def generate(page: Page, subject: str) -> None:
    page.fill("#subject", subject)
    page.click("#generate")
    expect(page.locator("#status")).to_have_text(FINISHED, timeout=30_000)


def sse(kind: str, text: str, sse_id: str) -> str:
    data = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"id: {sse_id}\nevent: {kind}\n{data}\n"


def serve_one_job(page: Page, job_id: str, events: str) -> list[str]:
    """The page's first ``POST /v1/jobs`` gets ``job_id``, whose stream is ``events``; later jobs
    go to the real server. Returns the inputs of every job the page asked for, in order."""
    asked: list[str] = []

    def start_job(route: Route) -> None:
        asked.append(json.loads(route.request.post_data or "{}")["input"])
        if len(asked) > 1:
            route.fallback()
            return
        job = {"id": job_id, "status": "running", "events_url": f"/v1/jobs/{job_id}/events"}
        route.fulfill(status=201, content_type="application/json", body=json.dumps(job))

    page.route("**/v1/jobs", start_job)
    page.route(f"**/v1/jobs/{job_id}/events*", lambda route: route.fulfill(
        status=200, content_type="text/event-stream", body="retry: 1000\n" + events))
    return asked


def declined_events(job_id: str, subject: str, prose: list[str], extra: dict[str, object]) -> str:
    """A declined answer as the EventSource route sends it: the note, its HTML, then ``complete``."""
    markdown = (f"# No course on “{subject}”\n\nThe knowledge base has nothing that covers “{subject}”.\n\n"
                "The closest things it does hold:\n\n" + "".join(f"- {line}\n" for line in prose))
    html = (f"<h1>No course on “{subject}”</h1>\n<p>The knowledge base has nothing that covers “{subject}”.</p>\n"
            "<p>The closest things it does hold:</p>\n<ul>\n" + "".join(f"<li>{line}</li>\n" for line in prose)
            + "</ul>\n")
    complete = {"job": job_id, "model": "course-generator", "markdown": markdown, "html": html, "sources": [],
                "timings": {}, "elapsed_ms": 5.0, **extra}
    return (sse("progress", "❔ The knowledge base does not cover it; answered so.\n", f"{job_id}:1")
            + sse("content", markdown, f"{job_id}:2.md") + sse("html", html, f"{job_id}:2")
            + sse("complete", json.dumps(complete), f"{job_id}:3"))


# -- a course -------------------------------------------------------------------------------


def test_generates_a_course_with_the_thinking_box_first(page: Page, server: ServerProcess) -> None:
    page.goto(server.url)
    expect(page.locator("#kb")).to_contain_text("Python")
    generate(page, "context managers")
    expect(page.locator("#log")).to_contain_text("PHASE 1: KNOWLEDGE RETRIEVAL")
    expect(page.locator("#log")).to_contain_text("PHASE 3: COURSE GENERATION")
    seen = page.evaluate("window.__seen")
    assert seen["log"] <= seen["course"], "thinking-box lines appear before the course"
    expect(page.locator("#course h1").first).to_have_text("Context managers")
    expect(page.locator("#course h2", has_text="Quiz")).to_be_visible()
    expect(page.locator("#course pre code").first).to_be_visible()
    # The sources once: the course's own section, and no second list from the event.
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_have_count(1)
    expect(page.locator("#course h2", has_text="Sources").locator("+ ul > li").first).to_be_visible()
    expect(page.locator("#sources")).to_be_hidden()
    # The phase indicator says the job is over, not its last phase.
    expect(page.locator("#phase")).to_have_text("done")
    assert page.locator("#generate").is_enabled() and page.locator("#stop").is_disabled()
    # The thinking box folds away when the course is done; open it for the picture.
    page.click("#thinking summary")
    expect(page.locator("#log")).to_be_visible()
    screenshot(page, "page.png")


def test_a_long_course_has_contents_that_lead_to_each_section(browser: Browser, server: ServerProcess) -> None:
    with open_page(browser, width=1440, height=1000) as page:
        page.goto(server.url)
        generate(page, "generators")
        toc = page.get_by_role("navigation", name="Contents of the course")
        expect(toc).to_be_visible()
        headings = page.locator("#course h2:visible")
        links = toc.locator("a")
        titles = [h.strip() for h in headings.all_text_contents()]
        assert len(titles) >= 4
        assert [t for t in (link.strip() for link in links.all_text_contents()) if t in titles] == titles
        expect(links.filter(has_text=re.compile("^Answers$"))).to_have_count(0)  # hidden, so not listed
        # Beside the course on a wide screen, and still there after scrolling down.
        box, course = toc.bounding_box(), page.locator("#course").bounding_box()
        assert box is not None and course is not None and box["x"] + box["width"] <= course["x"]
        page.click("#thinking summary")  # the agents' progress, for the README's picture
        expect(page.locator("#log")).to_be_visible()
        screenshot(page, "page-wide.png")
        links.filter(has_text="Quiz").click()
        expect(page.locator("#course h2", has_text="Quiz")).to_be_in_viewport()
        expect(toc).to_be_in_viewport()
        assert page.evaluate("location.hash").startswith("#c-quiz")
        screenshot(page, "page-contents.png")


def test_quiz_answers_appear_only_after_a_click(page: Page, server: ServerProcess) -> None:
    page.goto(server.url)
    generate(page, "context managers")
    assert page.evaluate("window.__answerShown") is False, "the answers were never on screen while streaming"
    quiz = page.locator("#course ol").filter(has=page.locator("button.reveal")).first
    questions = quiz.locator(":scope > li")
    assert questions.count() >= 1
    expect(page.locator("#course h3", has_text="Answers")).to_be_hidden()
    expect(page.locator("#course .answer:visible")).to_have_count(0)
    first = questions.first
    answer = first.locator(".answer")
    expect(answer).to_be_hidden()
    button = first.get_by_role("button", name="Show answer")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(answer).to_be_visible()
    expect(answer).to_contain_text("Answer:")
    expect(first.get_by_role("button", name="Hide answer")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#course .answer:visible")).to_have_count(1)  # the others stay hidden
    first.scroll_into_view_if_needed()
    screenshot(page, "quiz-answer.png")


def test_copy_markdown_and_download_md(browser: Browser, server: ServerProcess, tmp_path: Path) -> None:
    with open_page(browser) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page.goto(server.url)
        generate(page, "json")
        with page.expect_download() as info:
            page.get_by_role("button", name="Download .md").click()
        download = info.value
        assert download.suggested_filename == "json.md"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        markdown = saved.read_text(encoding="utf-8")
        assert markdown.startswith("# json\n")
        assert "## Quiz" in markdown and "## Sources" in markdown, "the whole course, answers and all"
        expect(page.locator("#action-status")).to_have_text("Downloaded json.md.")
        page.get_by_role("button", name="Copy Markdown").click()
        expect(page.locator("#action-status")).to_have_text("Copied the course as Markdown.")
        assert page.evaluate("navigator.clipboard.readText()") == markdown


def test_the_suggested_subjects_come_from_nearby_and_each_starts_its_course(page: Page, server: ServerProcess) -> None:
    nearby = [
        "decimal — Decimal fixed point and floating point arithmetic",
        {"id": "manual:library/os", "title": "os — Miscellaneous operating system interfaces", "score": 0.4},
    ]
    # The note's own prose lists something else: the buttons are the event's `nearby`, not the prose.
    events = declined_events("job_declined", "quantum chromodynamics", ["json — JSON encoder and decoder"],
                             {"known": False, "nearby": nearby})
    asked = serve_one_job(page, "job_declined", events)
    page.goto(server.url)
    generate(page, "quantum chromodynamics")
    expect(page.locator("#status")).to_have_text(
        "There is no course on “quantum chromodynamics”. Nearby subjects you can start instead: decimal, os.")
    suggestions = page.get_by_role("region", name="Nearby subjects it does cover")
    expect(suggestions.get_by_role("button")).to_have_text(["decimal", "os"])
    expect(suggestions.locator("li").first).to_contain_text("Decimal fixed point and floating point arithmetic")
    expect(page.locator("#result").get_by_role("button", name=re.compile("json"))).to_have_count(0)
    # A note, not a course: nothing to copy or download, no contents.
    expect(page.get_by_role("button", name="Copy Markdown")).to_be_hidden()
    expect(page.get_by_role("button", name="Download .md")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Contents of the course")).to_be_hidden()
    expect(page.get_by_role("link", name="Contents", exact=True)).to_be_hidden()
    screenshot(page, "suggestions.png")
    suggestions.get_by_role("button", name="decimal").click()
    expect(page.locator("#subject")).to_have_value("decimal")
    expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
    assert asked == ["quantum chromodynamics", "decimal"], "the click started a course on that subject"
    expect(page.locator("#course h1").first).to_contain_text("decimal", ignore_case=True)
    expect(suggestions).to_be_hidden()
    expect(page.get_by_role("button", name="Download .md")).to_be_visible()


def test_a_declined_answer_without_nearby_offers_nothing(page: Page, server: ServerProcess) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    serve_one_job(page, "job_bare", declined_events("job_bare", "string theory", ["decimal"], {"known": False}))
    page.goto(server.url)
    generate(page, "string theory")
    expect(page.locator("#status")).to_have_text("There is no course on “string theory”: the note below says why.")
    expect(page.locator("#suggestions")).to_be_hidden()
    expect(page.locator("button.suggestion")).to_have_count(0)  # the prose's list stays prose
    expect(page.get_by_role("button", name="Copy Markdown")).to_be_hidden()
    assert errors == []


@pytest.mark.parametrize("subject", ["quantum chromodynamics", "thanks!"])
def test_the_servers_declined_answer_is_no_course(page: Page, server: ServerProcess, subject: str) -> None:
    page.goto(server.url)
    page.fill("#subject", subject)
    with page.expect_response("**/v1/jobs") as created:
        page.click("#generate")
    job_id = created.value.json()["id"]
    expect(page.locator("#status")).to_contain_text(f"There is no course on “{subject}”", timeout=30_000)
    expect(page.locator("#course h1").first).to_be_visible()
    expect(page.get_by_role("button", name="Copy Markdown")).to_be_hidden()
    expect(page.get_by_role("button", name="Download .md")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Contents of the course")).to_be_hidden()
    expect(page.locator("#phase")).to_have_text("done")
    # The buttons are whatever the server's `complete` event lists as nearby, and nothing else.
    stream = httpx.get(f"{server.url}/v1/jobs/{job_id}/events", timeout=10).text
    complete = json.loads(stream.split("event: complete\ndata: ", 1)[1].split("\n", 1)[0])
    titles = [str(item["title"] if isinstance(item, dict) else item) for item in complete.get("nearby", [])]
    names = list(dict.fromkeys(t.split(" — ")[0].replace("`", "").strip() for t in titles))
    expect(page.locator("button.suggestion")).to_have_text(names)
    if names:
        expect(page.locator("#suggestions")).to_be_visible()
    else:
        expect(page.locator("#suggestions")).to_be_hidden()


# -- refused and failed requests, in the server's words -------------------------------------


def test_a_busy_server_counts_down_then_retries_once(browser: Browser, default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "MAX_CONCURRENT_JOBS": "1", "MAX_QUEUED_JOBS": "0"}
    with ServerProcess(env) as busy, open_page(browser) as page:
        answers: list[int] = []
        page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/v1/jobs") else None)
        page.goto(busy.url)
        page.fill("#subject", "json")
        # The one slot is taken by a job that ends within the server's Retry-After (5 s).
        occupied = httpx.post(
            f"{busy.url}/v1/jobs", json={"model": "ticker", "input": json.dumps({"ticks": 15, "interval": 0.1})}
        )
        assert occupied.status_code == 201
        page.click("#generate")
        notice = page.locator("#notice")
        expect(notice).to_be_visible()
        expect(page.locator("#notice-message")).to_contain_text("The server is busy")
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^[1-5]$"))
        expect(page.locator("#status")).to_have_text("Waiting 5 s, then trying once more.")
        expect(page.locator("#stop")).to_be_enabled()
        screenshot(page, "busy-countdown.png")
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^[1-3]$"))  # it counts down
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
        expect(page.locator("#course h1").first).to_have_text("json")
        expect(notice).to_be_hidden()
        expect(page.locator("#error")).to_be_hidden()
        screenshot(page, "busy-then-done.png")
    assert answers == [429, 201], "one refusal, one retry by itself"


def test_a_busy_server_twice_shows_its_words_and_stops_trying(browser: Browser, default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "MAX_CONCURRENT_JOBS": "1", "MAX_QUEUED_JOBS": "0"}
    with ServerProcess(env) as busy, open_page(browser) as page:
        page.clock.install()  # the page's timers run when the test says so
        page.goto(busy.url)
        long_job = httpx.post(
            f"{busy.url}/v1/jobs", json={"model": "ticker", "input": json.dumps({"ticks": 400, "interval": 0.05})}
        )
        assert long_job.status_code == 201
        page.fill("#subject", "json")
        page.click("#generate")
        expect(page.locator("#notice")).to_be_visible()
        page.clock.run_for(6_000)  # past the Retry-After: the one retry is refused too
        expect(page.locator("#error")).to_contain_text("The server is busy")
        expect(page.locator("#notice")).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Not started: the server refused (429).")
        assert page.locator("#generate").is_enabled()
        httpx.delete(f"{busy.url}/v1/jobs/{long_job.json()['id']}")


def test_stop_during_the_countdown_cancels_the_retry(browser: Browser, default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb), "MAX_CONCURRENT_JOBS": "1", "MAX_QUEUED_JOBS": "0"}
    with ServerProcess(env) as busy, open_page(browser) as page:
        posts: list[Request] = []
        page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
        page.clock.install()
        page.goto(busy.url)
        long_job = httpx.post(
            f"{busy.url}/v1/jobs", json={"model": "ticker", "input": json.dumps({"ticks": 400, "interval": 0.05})}
        )
        page.fill("#subject", "json")
        page.click("#generate")
        expect(page.locator("#notice")).to_be_visible()
        page.click("#stop")
        expect(page.locator("#notice")).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Stopped.")
        page.clock.run_for(10_000)  # a retry that was not cancelled would be sent now
        expect(page.locator("#status")).to_have_text("Stopped.")
        assert len(posts) == 1
        httpx.delete(f"{busy.url}/v1/jobs/{long_job.json()['id']}")


def test_a_refused_subject_shows_the_servers_words(page: Page, server: ServerProcess) -> None:
    page.goto(server.url)
    page.fill("#subject", "x" * 4001)
    page.click("#generate")
    expect(page.locator("#error")).to_contain_text("longer than 4000 characters")
    expect(page.locator("#status")).to_have_text("Not started: the server refused (400).")
    expect(page.locator("#thinking")).to_be_hidden()
    assert page.locator("#generate").is_enabled()
    screenshot(page, "bad-subject.png")
    # The ticker's own complaint about its input, word for word.
    page.goto(f"{server.url}/?model=ticker")
    page.fill("#subject", "not json")
    page.click("#generate")
    expect(page.locator("#error")).to_contain_text("JSON")
    expect(page.locator("#status")).to_have_text("Not started: the server refused (400).")
    expect(page.locator("#error")).not_to_contain_text("connection")


class HoldingProxy(CuttingProxy):
    """Passes requests through; once armed, it holds the body of the next request that matches back.

    This is how a page's request reaches a server that starts shutting down while the request
    is under way: its headers arrive before the signal (so uvicorn lets the request finish),
    its body after the service has begun to refuse new jobs.
    """

    def __init__(self, upstream_port: int, hold: bytes) -> None:
        super().__init__(upstream_port)
        self._hold = hold
        self.armed = threading.Event()
        self.held = threading.Event()
        self._release = asyncio.Event()

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._release.set)

    async def _relay(self, client: Streams, upstream: Streams, transports: set[asyncio.WriteTransport]) -> None:
        client_reader, client_writer = client
        upstream_reader, upstream_writer = upstream

        async def requests() -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
                while True:
                    head = await client_reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"(?im)^content-length:\s*(\d+)\r$", head)
                    upstream_writer.write(head)
                    await upstream_writer.drain()
                    if head.startswith(self._hold) and self.armed.is_set() and not self.held.is_set():
                        self.held.set()
                        await self._release.wait()
                    if length:
                        upstream_writer.write(await client_reader.readexactly(int(length.group(1))))
                        await upstream_writer.drain()
            with contextlib.suppress(OSError):
                upstream_writer.close()

        async def responses() -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await upstream_reader.read(65536):
                    client_writer.write(data)
                    await client_writer.drain()
            with contextlib.suppress(OSError):
                client_writer.close()

        await asyncio.gather(requests(), responses())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        super().__exit__(exc_type, exc, tb)


def test_a_server_shutting_down_shows_its_words(browser: Browser, default_kb: Path) -> None:
    # A stream stays open across the signal (sse-starlette tells the service to stop through its
    # open streams), and uvicorn waits up to 15 s for the request under way.
    env = {"KNOWLEDGE_BASE": str(default_kb), "SHUTDOWN_GRACE_PERIOD": "5"}
    server = ServerProcess(env, args=["--timeout-graceful-shutdown", "15"])
    with server, HoldingProxy(server.port, hold=b"POST /v1/jobs ") as proxy, open_page(browser) as page:
        watcher = page.context.new_page()
        watcher.goto(f"{proxy.url}/?model=ticker")
        watcher.fill("#subject", json.dumps({"ticks": 100_000, "interval": 0.05}))
        watcher.click("#generate")
        expect(watcher.locator("#log")).to_contain_text("tick 2 ")
        page.goto(proxy.url)
        page.fill("#subject", "json")
        proxy.armed.set()
        page.click("#generate")
        assert proxy.held.wait(10), "the page's request reached the proxy"
        server.process.send_signal(signal.SIGTERM)
        # The open stream says goodbye once the service refuses new jobs: then the held request goes on.
        expect(watcher.locator("#error")).to_contain_text("The server is shutting down", timeout=15_000)
        proxy.release()
        expect(page.locator("#error")).to_contain_text("The server is shutting down; try again in a moment.")
        expect(page.locator("#status")).to_have_text("Not started: the server refused (503).")
        expect(page.locator("#error")).not_to_contain_text("connection")
        screenshot(page, "shutting-down.png")
        screenshot(watcher, "shutting-down-stream.png")


def test_an_unreachable_server_is_said_plainly(page: Page, server: ServerProcess) -> None:
    page.goto(server.url)
    page.route("**/v1/jobs", lambda route: route.abort("connectionrefused"))
    page.fill("#subject", "json")
    page.click("#generate")
    expect(page.locator("#error")).to_contain_text("The server cannot be reached")
    expect(page.locator("#status")).to_have_text("Not started.")


def test_stop_closes_the_stream_and_the_server_stops_the_job(page: Page, server: ServerProcess) -> None:
    token = secrets.token_hex(6)
    page.goto(f"{server.url}/?model=ticker")
    page.fill("#subject", json.dumps({"ticks": 100_000, "interval": 0.05, "token": token}))
    with page.expect_response("**/v1/jobs") as created:
        page.click("#generate")
    job_id = created.value.json()["id"]
    expect(page.locator("#log")).to_contain_text("tick 5 ")
    page.click("#stop")
    expect(page.locator("#status")).to_contain_text("Stopped")
    expect(page.locator("#phase")).to_have_text("stopped")

    def ended() -> bool:
        return any(f"job={job_id}" in line and "outcome=cancelled" in line for line in server.output())

    wait_until(ended, 10, "the job's end in the server's log")  # logged once its thread is over
    printed = [line for line in server.output() if line.endswith(f" {token}")]
    assert len(printed) < 60, "the job stopped soon after the page pressed Stop"


def test_a_hostile_subject_is_shown_as_text(page: Page, server: ServerProcess) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    page.goto(server.url)
    generate(page, hostile)
    expect(page.locator("#course h1").first).to_contain_text(hostile)
    assert page.locator("img").count() == 0


def test_works_with_the_keyboard_alone_on_a_phone_screen(browser: Browser, server: ServerProcess) -> None:
    with open_page(browser, width=375, height=740, mobile=True) as page:
        page.goto(server.url)
        page.keyboard.press("Tab")  # the first focusable element is the subject field
        assert page.evaluate("document.activeElement.id") == "subject"
        page.keyboard.type("json")
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
        expect(page.locator("#course h1").first).to_have_text("json")
        # The contents fold above the course; a keyboard opens them and follows a link.
        toc = page.get_by_role("navigation", name="Contents of the course")
        expect(toc.locator("a").first).to_be_hidden()
        toc.locator("summary").focus()
        page.keyboard.press("Enter")
        expect(toc.locator("a").first).to_be_visible()
        page.keyboard.press("Enter")
        expect(toc.locator("a").first).to_be_hidden()
        # Far down a long course, one tap leads back to the contents, open.
        page.locator("#course h2", has_text="Quiz").scroll_into_view_if_needed()
        expect(toc).not_to_be_in_viewport()
        page.get_by_role("link", name="Contents", exact=True).click()
        expect(toc.locator("a").first).to_be_in_viewport()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "nothing is wider than a phone screen"
        screenshot(page, "phone.png")


def test_a_failed_job_is_shown_plainly(browser: Browser, tmp_path: Path) -> None:
    with server_whose_knowledge_base_breaks(tmp_path) as broken:
        with open_page(browser) as page:
            page.goto(broken.url)
            page.fill("#subject", "json")
            page.click("#generate")
            expect(page.locator("#error")).to_contain_text("could not be generated", timeout=20_000)
            expect(page.locator("#error")).to_contain_text("unable to open database file")
            expect(page.locator("#status")).to_have_text("Failed.")
            expect(page.locator("#phase")).to_have_text("failed")
            expect(page.locator("#kb")).to_contain_text("unavailable (The knowledge base is unavailable.)")


def test_the_page_resumes_the_same_job_when_the_connection_is_cut(page: Page, server: ServerProcess) -> None:
    token = secrets.token_hex(6)
    with CuttingProxy(server.port) as proxy:
        page.goto(f"{proxy.url}/?model=ticker")
        page.fill("#subject", json.dumps({"ticks": 40, "interval": 0.05, "token": token}))
        page.click("#generate")
        expect(page.locator("#log")).to_contain_text("tick 5 ")
        proxy.drop_all()  # the connection dies under the page; Chromium reconnects with Last-Event-ID
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
    lines = (page.locator("#log").text_content() or "").splitlines()  # the box is folded: read its text
    assert [line.split()[1] for line in lines] == [str(i) for i in range(40)], "every line once, in order"
    started = [line for line in server.output() if line.endswith(f" {token}") and line.split()[-3] == "0"]
    assert len(started) == 1, "the reconnect resumed the job instead of starting another"
    expect(page.locator("#error")).to_be_hidden()


def test_with_api_keys_the_page_asks_for_one_and_never_puts_it_in_a_url(
    browser: Browser, default_kb: Path
) -> None:
    urls: list[str] = []
    with ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "page-secret-key"}) as guarded:
        with open_page(browser) as page:
            page.on("request", lambda request: urls.append(request.url))
            page.goto(guarded.url)
            expect(page.locator("#key-form")).to_be_visible()
            page.fill("#api-key", "page-secret-key")
            page.click("#key-form button")
            expect(page.locator("#kb")).to_contain_text("Python")
            generate(page, "json")
            expect(page.locator("#course h1").first).to_have_text("json")
    assert any("access_token=" in url for url in urls), "the stream was opened with a token"
    assert not any("page-secret-key" in url for url in urls), "the key never travels in a URL"


def test_an_expired_stream_token_is_renewed_and_the_job_resumed(browser: Browser, default_kb: Path) -> None:
    token = secrets.token_hex(6)
    env = {"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "page-secret-key", "STREAM_TOKEN_TTL": "2"}
    streams: list[int] = []
    with ServerProcess(env) as guarded, CuttingProxy(guarded.port) as proxy, open_page(browser) as page:
        page.on("response", lambda r: streams.append(r.status) if "/events" in r.url else None)
        page.goto(f"{proxy.url}/?model=ticker")
        page.fill("#api-key", "page-secret-key")
        page.click("#key-form button")
        page.fill("#subject", json.dumps({"ticks": 100, "interval": 0.05, "token": token}))
        page.click("#generate")
        expect(page.locator("#log")).to_contain_text("tick 60 ")  # 3 s in: the stream's token has expired
        proxy.drop_all()  # the browser's own reconnect is refused; the page reopens with a new token
        expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
        lines = (page.locator("#log").text_content() or "").splitlines()
    assert [line.split()[1] for line in lines] == [str(i) for i in range(100)], "every line once, in order"
    assert 401 in streams and streams[-1] == 200


def test_a_job_lost_with_its_server_is_said_in_the_servers_words(browser: Browser, default_kb: Path) -> None:
    env = {"KNOWLEDGE_BASE": str(default_kb)}
    with ServerProcess(env) as first, ServerProcess(env) as second, CuttingProxy(first.port) as proxy:
        with open_page(browser) as page:
            page.goto(f"{proxy.url}/?model=ticker")
            page.fill("#subject", json.dumps({"ticks": 100_000, "interval": 0.05}))
            page.click("#generate")
            expect(page.locator("#log")).to_contain_text("tick 5 ")
            # The server is replaced by another one, which has never heard of the job.
            proxy._upstream_port = second.port  # the test proxy, rewired to the new server
            proxy.drop_all()
            # What happened and what to do, then the server's own words.
            expect(page.locator("#error")).to_contain_text("the server no longer has this job")
            expect(page.locator("#error")).to_contain_text("press Generate to start it again")
            expect(page.locator("#error")).to_contain_text("No job 'job_")
            expect(page.locator("#status")).to_have_text("Stopped.")
            expect(page.locator("#phase")).to_have_text("stopped")
            assert page.locator("#generate").is_enabled()


def test_a_server_gone_for_good_is_said_after_a_while_and_stop_ends_it(browser: Browser, server: ServerProcess) -> None:
    with CuttingProxy(server.port) as proxy, open_page(browser) as page:
        page.clock.install()  # the page's clock, to skip the quarter of a minute it waits before saying so
        page.goto(f"{proxy.url}/?model=ticker")
        page.fill("#subject", json.dumps({"ticks": 100_000, "interval": 0.05}))
        page.click("#generate")
        expect(page.locator("#log")).to_contain_text("tick 5 ")
        proxy._upstream_port = free_port()  # nothing listens there: every reconnect fails
        proxy.drop_all()
        expect(page.locator("#status")).to_have_text("Connection lost: reconnecting…")
        page.clock.fast_forward("00:20")
        expect(page.locator("#status")).to_contain_text("The server has not answered for", timeout=30_000)
        expect(page.locator("#status")).to_contain_text("Press Stop to give up")
        page.click("#stop")
        expect(page.locator("#status")).to_have_text("Stopped.")


def test_a_refused_key_is_said_in_the_servers_words(browser: Browser, default_kb: Path) -> None:
    with ServerProcess({"KNOWLEDGE_BASE": str(default_kb), "API_KEYS": "page-secret-key"}) as guarded:
        with open_page(browser) as page:
            page.goto(guarded.url)
            page.fill("#api-key", "a-wrong-key")
            page.click("#key-form button")
            expect(page.locator("#error")).to_contain_text("Incorrect API key provided.")
            expect(page.locator("#key-form")).to_be_visible()
            # Generate with the wrong key: refused, the form asks again, and the right key starts that course.
            page.fill("#subject", "json")
            page.click("#generate")
            expect(page.locator("#status")).to_contain_text("the course starts once it is given")
            page.fill("#api-key", "page-secret-key")
            page.click("#key-form button")
            expect(page.locator("#status")).to_contain_text("Done in", timeout=30_000)
            expect(page.locator("#course h1").first).to_have_text("json")
            expect(page.locator("#error")).to_be_hidden()

