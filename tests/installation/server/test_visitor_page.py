import json

import pytest

from engine.errors import ConfigError
from installation.server.visitor_page import WEB_ROOT, VisitorPage, is_loopback, qr_svg


def test_routes_are_a_fixed_table_of_the_web_folder():
    """Every visitor file in installation/web is served under /static/ (index.html at /), and nothing else."""
    page = VisitorPage()
    assert {"/", "/static/visitor.js", "/static/visitor.css", "/static/icon.svg"} <= set(page.paths)
    for target in ["/static/../server.py", "/static/%2e%2e/server.py", "/static/", "/server.py", "/web/index.html"]:
        assert page.reply("GET", target).status == 404


def test_websocket_path_passes_through_and_other_methods_are_refused():
    """GET /ws returns None (the handshake goes on); any other method on any path is 405."""
    page = VisitorPage()
    assert page.reply("GET", "/ws") is None and page.reply("GET", "/ws?x=1") is None
    refused = page.reply("POST", "/ws")
    assert refused.status == 405 and ("Allow", "GET") in refused.headers


def test_title_is_escaped_into_the_page():
    """The page title is HTML-escaped where the page shows it."""
    body = VisitorPage(title='<script>"x"</script>').reply("GET", "/").body.decode()
    assert "&lt;script&gt;&quot;x&quot;&lt;/script&gt;" in body and '<script>"x"' not in body


def test_the_qr_code_encodes_the_configured_address_whatever_the_host_header_says():
    """/qr.svg encodes public_url, else the server's own address; a request's Host header (anyone can send
    any) never changes it."""
    guess = lambda: "http://10.0.0.5:8765/"  # noqa: E731
    public = VisitorPage(public_url="https://lantern.example/", default_url=guess)
    assert public.page_url() == "https://lantern.example/"
    assert public.reply("GET", "/qr.svg", "evil.example").body == qr_svg("https://lantern.example/")
    page = VisitorPage(default_url=guess)
    for host in ["192.168.1.9:8765", "evil.example", "localhost:8765", None]:
        assert page.reply("GET", "/qr.svg", host).body == qr_svg("http://10.0.0.5:8765/")
    assert is_loopback("::1") and not is_loopback("kiosk.local")


def test_status_is_json_and_a_failing_provider_is_a_500():
    """/status serialises the provider's dict (NaN -> null); a provider that raises gives 500, not a crash."""
    page = VisitorPage(status=lambda: {"fps": float("inf"), "styles": ("a", "b")})
    assert json.loads(page.reply("GET", "/status").body) == {"fps": None, "styles": ["a", "b"]}

    def broken():
        raise RuntimeError("engine gone")

    assert VisitorPage(status=broken).reply("GET", "/status").status == 500


def test_missing_page_is_a_config_error(tmp_path):
    """A web folder without index.html fails at construction and names the file."""
    with pytest.raises(ConfigError, match="index.html"):
        VisitorPage(web_root=tmp_path)


def test_page_has_no_external_resources():
    """The page, script and style name no other host (no CDN, no fonts from elsewhere)."""
    for name in ["index.html", "visitor.js", "visitor.css", "icon.svg"]:
        text = (WEB_ROOT / name).read_text()
        assert "https://" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")


def test_a_rooms_qr_code_carries_its_zone():
    """/qr.svg?zone=room-2 encodes the page's address with ?zone=room-2 (the code on that room's wall); a zone
    name that is not one (spaces, capitals) is refused with a 400."""
    page = VisitorPage(public_url="https://lantern.example/")
    assert page.reply("GET", "/qr.svg?zone=room-2").body == qr_svg("https://lantern.example/?zone=room-2")
    assert page.reply("GET", "/qr.svg?zone=room-3").body == qr_svg("https://lantern.example/?zone=room-3")
    assert page.reply("GET", "/qr.svg").body == qr_svg("https://lantern.example/")
    assert page.reply("GET", "/qr.svg?zone=Room%202").status == 400
