import base64
import hashlib
import re

import pytest

from engine.errors import ConfigError
from installation.server.auth import Access
from installation.server.operator_page import FILES, OperatorPage
from installation.server.visitor_page import WEB_ROOT, VisitorPage


def _csp(reply) -> str:
    return dict(reply.headers)["Content-Security-Policy"]


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize(
    "reply",
    [OperatorPage().page(), OperatorPage().calibrate(), OperatorPage().refused(Access.MISSING, page=True)],
    ids=["panel", "calibrate", "sign-in"],
)
def test_inline_script_and_style_are_allowed_by_hash_and_nothing_else(reply):
    """The CSP allows exactly the page's one inline script and one inline style, by SHA-256, and no inline else;
    the sign-in page, which puts the panel or the calibration page in its own place once the token is right,
    also their scripts (all pages share one style, so the sign-in page's style hash covers them)."""
    body = reply.body.decode()
    (script,) = re.findall(r"<script>(.*?)</script>", body, re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", body, re.S)
    csp = _csp(reply)
    pages = [
        re.findall(r"<script>(.*?)</script>", p.body.decode(), re.S)[0]
        for p in (OperatorPage().page(), OperatorPage().calibrate())
    ]
    scripts = [_sha256(script)] if script in pages else [_sha256(script)] + [_sha256(p) for p in pages]
    assert f"script-src {' '.join(scripts)};" in csp and f"style-src {_sha256(style)};" in csp
    assert all(
        re.findall(r"<style>(.*?)</style>", p.body.decode(), re.S) == [style]
        for p in (OperatorPage().page(), OperatorPage().calibrate())
    )
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp and "{{" not in body
    assert ("Cache-Control", "no-store") in reply.headers


def test_operator_files_have_no_external_resources():
    """The panel's files name no other host (no CDN, no fonts from elsewhere)."""
    for name in FILES:
        text = (WEB_ROOT / name).read_text()
        assert "https://" not in text and "http://" not in text, name


def test_operator_files_are_not_visitor_assets():
    """The visitor page does not serve the operator panel's files under /static/."""
    page = VisitorPage()
    assert not [p for p in page.paths if "operator" in p]
    assert page.reply("GET", "/static/operator.js").status == 404


def test_refusals_say_what_is_wrong_and_never_what_was_sent():
    """Missing: 401 with a Bearer challenge; wrong: 403; disabled: 403 naming LATERNA_OPERATOR_TOKEN."""
    page = OperatorPage()
    missing = page.refused(Access.MISSING)
    assert missing.status == 401 and ("WWW-Authenticate", 'Bearer realm="laterna-operator"') in missing.headers
    wrong = page.refused(Access.WRONG, page=True)
    assert wrong.status == 403 and b'data-access="wrong"' in wrong.body
    for page_route in (False, True):
        disabled = page.refused(Access.DISABLED, page=page_route)
        assert disabled.status == 403 and b"LATERNA_OPERATOR_TOKEN must be set" in disabled.body


def test_without_controls_state_and_preview_are_503():
    """An OperatorPage without a ShowControl answers its state and preview routes with 503."""
    assert OperatorPage().state().status == 503 and OperatorPage().preview().status == 503


def test_missing_panel_file_is_a_config_error(tmp_path):
    """A web folder without the panel's files fails at construction and names the file."""
    with pytest.raises(ConfigError, match="operator.html"):
        OperatorPage(web_root=tmp_path)
