"""The dashboard's front end is native ES modules with no build step: small files, one module that
turns numbers, money and dates into text, imports that resolve, an entry module every page loads,
and every script served as JavaScript (a browser refuses a module script served as anything
else)."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import NOW, make_settings
from spendscope.web.app import PAGES, create_app, render_page

WEB = Path(__file__).resolve().parents[1] / "src" / "spendscope" / "web"
STATIC = WEB / "static"
FORMAT = STATIC / "js" / "format.js"
ENTRY = STATIC / "app.js"
MAX_LINES = 600

IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"([^"]+)";', re.M)
EXPORT = re.compile(r"^export (?:async )?(?:function|const|let|class) ([\w$]+)", re.M)


def scripts() -> list[Path]:
    """Every JavaScript file of the dashboard (vendored libraries excepted)."""
    return sorted(p for p in WEB.rglob("*.js") if "vendor" not in p.relative_to(WEB).parts)


def modules() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.relative_to(STATIC).parts)


def code(path: Path) -> str:
    """A module's text without its comments: `/* … */`, and `//` at a line's start or after a
    space (so `"//"` in a string stays)."""
    text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"(^|\s)//[^\n]*", r"\1", text, flags=re.M)


def imports(path: Path) -> dict[str, Path]:
    """name -> the file it is imported from."""
    found: dict[str, Path] = {}
    for names, source in IMPORT.findall(path.read_text(encoding="utf-8")):
        assert source.startswith(("./", "../")), (path, source)  # relative, as browsers need
        assert source.endswith(".js"), (path, source)
        for name in (n.strip() for n in names.split(",")):
            if name:
                found[name] = (path.parent / source).resolve()
    return found


def exports(path: Path) -> set[str]:
    return set(EXPORT.findall(path.read_text(encoding="utf-8")))


def uses(name: str, text: str) -> bool:
    return re.search(r"(?<![\w$.])" + re.escape(name) + r"(?![\w$])", text) is not None


def test_no_script_is_longer_than_600_lines() -> None:
    found = scripts()
    assert ENTRY in found
    assert FORMAT in found
    counts = {str(p.relative_to(WEB)): len(p.read_text("utf-8").splitlines()) for p in found}
    assert {name: n for name, n in counts.items() if n > MAX_LINES} == {}


def test_formatters_are_defined_in_format_js_only() -> None:
    formatters = exports(FORMAT)
    assert {"fmtMoney", "fmtDate", "fmtDateTime", "fmtMonth", "sumDecimals", "roundDecimal"} <= (
        formatters
    )
    for path in modules():
        if path == FORMAT:
            continue
        text = code(path)
        for name in formatters:
            definition = rf"(?:function\*?\s+|(?:const|let|var|class)\s+){re.escape(name)}\b"
            assert not re.search(definition, text), f"{path.name} defines its own {name}"


# What a number, money or date formatter is made of. Each may appear in format.js only; the first
# group must appear there, which proves each pattern finds the implementation it looks for.
IN_FORMAT_ONLY = {
    "BigInt decimal arithmetic": r"\bBigInt\b|\b\d+n\b",
    "thousands grouping": r"\\d\{3\}",
    "a dollar sign glued to a number": r"""["']\$["']\s*\+|\+\s*["']\$["']|\$\$\{""",
    "month names": r"""["'](?:Jan|January|Nov|November)["']""",
    "calendar arithmetic": r"\bDate\.UTC\b|\bnew Date\b|\.getUTC(?:Month|FullYear|Date)\b",
}
NOWHERE_ELSE = {
    "Intl formatters": r"\bIntl\.\w+",
    "locale formatting": r"\.toLocale\w*String\b",
}


def test_no_second_number_money_or_date_formatter() -> None:
    implementation = code(FORMAT)
    for what, pattern in IN_FORMAT_ONLY.items():
        assert re.search(pattern, implementation), f"format.js has no {what}: the check is stale"
    for path in modules():
        if path == FORMAT:
            continue
        text = code(path)
        for what, pattern in {**IN_FORMAT_ONLY, **NOWHERE_ELSE}.items():
            hit = re.search(pattern, text)
            assert hit is None, f"{path.name} has {what} ({hit.group(0) if hit else ''!r})"


def test_every_module_gets_formatters_from_format_js() -> None:
    formatters = exports(FORMAT)
    formatting: set[str] = set()
    for path in modules():
        if path == FORMAT:
            continue
        imported = imports(path)
        text = IMPORT.sub("", code(path))
        for name in formatters:
            if uses(name, text):
                assert imported.get(name) == FORMAT, f"{path.name} uses {name} not from format.js"
                formatting.add(path.stem)
    # every page that shows figures formats them through format.js (the sign-in page shows none)
    assert {page for page, _title in PAGES.values()} <= formatting


def test_imports_resolve_to_exported_names() -> None:
    for path in modules():
        for name, source in imports(path).items():
            assert source.is_file(), (path.name, name, source)
            assert STATIC in source.parents, (path.name, source)
            assert name in exports(source), f"{path.name} imports {name}, which {source.name} lacks"


def test_the_entry_runs_a_module_for_every_page() -> None:
    text = ENTRY.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\s*\"?([\w-]+)\"?: (page\w+),$", text, re.M))
    imported = imports(ENTRY)
    for name in [page for page, _title in PAGES.values()] + ["login"]:
        assert name in table, f"app.js has no page {name}"
        assert imported[table[name]] == STATIC / "js" / "pages" / f"{name}.js"


def test_pages_load_the_entry_as_a_module() -> None:
    html = [render_page(name, title) for name, title in PAGES.values()]
    html.append((WEB / "pages" / "login.html").read_text(encoding="utf-8"))
    for page in html:
        tags = re.findall(r"<script\b[^>]*>", page)
        assert tags == [
            '<script src="/static/vendor/plotly.min.js" defer>',
            '<script type="module" src="/static/app.js">',
        ], tags


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    # a system whose MIME table calls .js something else must not break the dashboard
    mimetypes.init()
    monkeypatch.setitem(mimetypes.types_map, ".js", "text/plain")
    app = create_app(make_settings(tmp_path), now=lambda: NOW)
    return TestClient(app, base_url="http://127.0.0.1")


def test_every_module_is_served_as_javascript(client: TestClient) -> None:
    assert mimetypes.guess_type("x.js")[0] == "text/plain"
    for path in modules():
        url = "/static/" + path.relative_to(STATIC).as_posix()
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].split(";")[0] == "text/javascript", url
        assert r.content == path.read_bytes()
    css = client.get("/static/app.css")
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/static/js/nope.js").status_code == 404
