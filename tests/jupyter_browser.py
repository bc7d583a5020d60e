"""Real notebook servers (JupyterLab, Notebook 7, marimo) and Debian's headless Chromium, for
end-to-end tests.

Used by tests/test_jupyterlab_e2e.py, tests/test_marimo_e2e.py, tests/test_front_ends_session.py
and benchmarks/widget_stream.py. No browser is downloaded: Chromium comes from the system
(/usr/bin/chromium), driven by playwright's Python API.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
]


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import jupyterlab  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed"
    if not (REPO / "dragwidget" / "static" / "widget.js").exists():
        return "dragwidget/static/widget.js is missing (cd js && npm run build)"
    return None


@dataclass
class Server:
    base_url: str
    token: str
    root: Path
    app: str
    log: Path

    def url(self, notebook: str) -> str:
        if self.app == "marimo":
            return f"{self.base_url}/"
        if self.app == "lab":
            return f"{self.base_url}/lab/tree/{notebook}?reset&token={self.token}"
        return f"{self.base_url}/notebooks/{notebook}?token={self.token}"

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/api/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def kernels_idle(self) -> bool:
        kernels = self.api("kernels")
        return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_server(
    root: Path,
    app: str = "lab",
    timeout: float = 60,
    extra_args: tuple[str, ...] = (),
    extra_path: tuple[str, ...] = (),
) -> Iterator[Server]:
    """`jupyter lab` (or `notebook`) serving `root`, with throwaway config and runtime folders.

    Kernels it starts import dragwidget from this checkout (and tests/ helpers) via PYTHONPATH,
    plus `extra_path`; `extra_args` go to the server's command line.
    """
    port, token = _free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="dw-jupyter-") as tmp:
        tmp = Path(tmp)
        settings = tmp / "settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "PYTHONPATH": _kernel_path(extra_path),
        }
        log = tmp / "server.log"
        command = [
            sys.executable, "-m", "jupyter", app, "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None", "--allow-root", *extra_args,
        ]  # fmt: skip
        with open(log, "wb") as out:
            # A session of its own, so that the server and its kernels end together.
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = Server(f"http://127.0.0.1:{port}", token, root, app, log)
        try:
            _wait_until_up(process, lambda: server.api("status"), f"jupyter {app}", log, timeout)
            yield server
        finally:
            _end_process_group(process)


def _kernel_path(extra_path: tuple[str, ...] = ()) -> str:
    """PYTHONPATH for kernels: this checkout's dragwidget and the tests' helpers first."""
    return os.pathsep.join(
        [str(REPO), str(REPO / "tests"), *extra_path, os.environ.get("PYTHONPATH", "")]
    )


def write_marimo_notebook(path: Path, setup: str, on_demand: tuple[str, ...] = ()) -> None:
    """A marimo notebook: the cell `setup` (its last expression is shown), then one button per
    code of `on_demand`, labelled "run 1", "run 2", ..., that runs that code with setup's names
    (as a later cell of a Jupyter notebook would, when the test runs it).
    """
    import ast

    tree = ast.parse(setup)
    names = sorted(
        {
            target.id
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        | {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        | {
            (alias.asname or alias.name).split(".")[0]
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
    )
    setup_body = "\n".join("    " + line for line in setup.strip().splitlines())
    scope = ", ".join(f"{name!r}: {name}" for name in names)
    # marimo sends a UI element's events to the kernel only when a global names it
    buttons = [f"run_{i}" for i in range(1, len(on_demand) + 1)]
    make = "\n".join(
        f"    {name} = _mo.ui.button(label={name.replace('_', ' ')!r}, "
        f"on_click=lambda _v: exec({code!r}, _scope))"
        for name, code in zip(buttons, on_demand, strict=True)
    )
    path.write_text(
        f"""import marimo

app = marimo.App(width="full")


@app.cell
def _():
{setup_body}
    return ({", ".join(names)},)


@app.cell
def _({", ".join(names)}):
    import marimo as _mo

    _scope = {{{scope}}}
{make}
    _mo.hstack([{", ".join(buttons)}], justify="start")
    return ({", ".join(buttons)},)


if __name__ == "__main__":
    app.run()
"""
    )


@contextlib.contextmanager
def marimo_server(notebook: Path, timeout: float = 60) -> Iterator[Server]:
    """`marimo run` serving one notebook as an app (its cells run when a page opens it)."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": _kernel_path()}
    with tempfile.TemporaryDirectory(prefix="dw-marimo-") as tmp:
        log = Path(tmp) / "server.log"
        command = [
            sys.executable, "-m", "marimo", "-q", "-y", "run", str(notebook), "--headless",
            "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-sandbox",
            "--no-check",
        ]  # fmt: skip
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=notebook.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(f"http://127.0.0.1:{port}", "", notebook.parent, "marimo", log)
        try:
            health = f"{server.base_url}/health"
            _wait_until_up(
                process,
                lambda: urllib.request.urlopen(health, timeout=5).close(),
                "marimo",
                log,
                timeout,
            )
            yield server
        finally:
            _end_process_group(process)


def _wait_until_up(
    process: subprocess.Popen, probe: Callable[[], object], name: str, log: Path, timeout: float
) -> None:
    """Wait until `probe()` stops raising OSError; the log's tail if the server dies or stalls."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            probe()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _end_process_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def chromium(viewport: tuple[int, int] = (1400, 950)) -> Iterator[Any]:
    """A page in Debian's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, path)


def open_notebook(page: Any, server: Server, notebook: str, timeout: float = 90) -> None:
    """Open a notebook and wait until its kernel is idle (checked in the server and in the page)."""
    page.goto(server.url(notebook))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while not _kernel_ready(page, server):
        if time.monotonic() > deadline:
            raise TimeoutError("the kernel did not become idle")
        time.sleep(0.25)


def _kernel_ready(page: Any, server: Server) -> bool:
    with contextlib.suppress(OSError):
        if not server.kernels_idle():
            return False
    if server.app == "lab":
        # The execution indicator says idle too early; the status bar's "| Idle" does not.
        text = page.locator("#jp-main-statusbar").inner_text(timeout=2000)
        return "| Idle" in text
    # Notebook 7 has no status bar; its execution indicator, with the server's word, will do.
    return page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0


def run_cell(page: Any, index: int, timeout: float = 120) -> None:
    """Shift+Enter in cell `index` (0-based) and wait for its prompt number; retried once."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    for _attempt in range(2):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        prompt = cell.locator(".jp-InputArea-prompt")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = prompt.inner_text()
            if "[*]" in text or any(ch.isdigit() for ch in text):
                break
            time.sleep(0.1)
        else:
            continue  # the key press was lost (the kernel was not quite ready): once more
        deadline = time.monotonic() + timeout
        while any(ch == "*" for ch in prompt.inner_text()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell {index} did not finish")
            time.sleep(0.1)
        return
    raise RuntimeError(f"cell {index} did not start")


def read_json(path: Path) -> dict | None:
    """A state file the kernel writes (atomically); None until it exists."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.05, what: str = "") -> Any:
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(interval)
