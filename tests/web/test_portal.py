"""The unified portal in a real browser: log-in, menus, the generic ledger page, admin pages,
languages and session expiry (requirements 6.2.6-1/2/6/7, 4.1.5-1/2)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from pathlib import Path
from typing import Any

import jwt
import pytest
from openpyxl import Workbook, load_workbook

from tests.web.conftest import SECRET_KEY, LiveServer, Portal

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # pragma: no cover - the dev extras bring playwright
    if os.environ.get("SHEQU_REQUIRE_SERVICES") == "1":
        raise
    pytest.skip("playwright unavailable: the Python package is not installed",
                allow_module_level=True)

LEDGER = "/ledgers/organisations"
TOKENS_KEY = "shequ.tokens"


# -- helpers -----------------------------------------------------------------------------


def api_token(server: LiveServer, username: str) -> str:
    """An access token obtained directly from the API."""
    pair = server.api("POST", "/auth/login",
                      body={"username": username, "password": "Shequ@Demo2026"})
    return str(pair["access_token"])


def choose(page: Page, select: Locator, option: str, *, close_on: Locator | None = None) -> None:
    """Pick an option of an Element Plus select by its visible label; a multiple select keeps
    its list open, so a click on `close_on` (outside the list) closes it."""
    select.click()
    choice = page.get_by_role("option", name=option, exact=True).locator("visible=true")
    choice.click()
    if close_on is not None:
        expect(choice).to_have_attribute("aria-selected", "true")
        close_on.click()
        expect(choice).to_be_hidden()


def table_rows(page: Page) -> Locator:
    """The body rows of the ledger table."""
    return page.get_by_test_id("ledger-table").locator(".el-table__body tbody tr")


def header_cell(page: Page, label: str) -> Locator:
    """A header cell of the ledger table by its exact label."""
    return page.get_by_test_id("ledger-table").locator(".el-table__header th").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def column_texts(page: Page, index: int) -> list[str]:
    """The texts of one column (1-based) of the ledger table."""
    cells = page.get_by_test_id("ledger-table").locator(
        f".el-table__body tbody tr td:nth-child({index}) .cell")
    return [text.strip() for text in cells.all_inner_texts()]


def ledger_meta(server: LiveServer, token: str, language: str = "zh-CN") -> dict[str, Any]:
    """The organisations ledger's metadata."""
    return dict(server.api("GET", "/organisations/meta", token, language=language))


def search_keyword(page: Page, keyword: str) -> None:
    """Type a keyword into the ledger's search box and apply it."""
    box = page.get_by_test_id("filter-keyword")
    box.fill(keyword)
    box.press("Enter")


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    """An XLSX file with the given rows (the first is the header)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


# -- log-in, menus, home -----------------------------------------------------------------


def test_property_manager_sees_menu_families_and_roles(portal: Portal) -> None:
    """Log in as the property manager: the menu shows the families of /me/menus, the home
    page the role and its scope."""
    portal.open_and_login("property")
    page = portal.page
    token = portal.local(TOKENS_KEY)["access"]
    menus = portal.server.api("GET", "/me/menus", token)
    assert {g["key"] for g in menus} >= {"management", "administration"}
    for group in menus:
        menu = page.get_by_test_id(f"menu-group-{group['key']}")
        expect(menu).to_contain_text(group["label"])
        for item in group["items"]:
            expect(page.get_by_test_id(f"menu-item-{item['key']}")).to_contain_text(item["label"])
    shown = {g["key"] for g in menus}
    for family in {"monitoring", "governance", "management", "services", "administration"} - shown:
        expect(page.get_by_test_id(f"menu-group-{family}")).to_have_count(0)
    roles = page.get_by_test_id("home-roles")
    expect(roles).to_contain_text("物业管理员")
    expect(roles).to_contain_text("翠苑一区（演示社区）")
    expect(page.get_by_test_id("community-select")).to_contain_text("翠苑一区（演示社区）")
    portal.screenshot("portal-home")
    assert portal.unexpected_errors() == []


def test_login_errors_follow_the_language(portal: Portal) -> None:
    """A wrong password shows the API's problem title in the current language."""
    portal.goto("/")
    page = portal.page
    page.wait_for_url(re.compile(r"/login"))
    portal.login("property", "wrong-password")
    expect(page.get_by_test_id("login-error")).to_contain_text("用户名或密码错误")
    page.get_by_test_id("language-en").click()
    expect(page.get_by_test_id("login-submit")).to_have_text("Log in")
    portal.login("property", "wrong-password")
    expect(page.get_by_test_id("login-error")).to_contain_text("Invalid username or password")
    assert portal.unexpected_errors(allow=(401,)) == []


PAGE_MARKERS = {
    "/admin/communities": "admin-communities",
    "/admin/users": "users-table",
    "/admin/api-keys": "api-keys-table",
    "/admin/audit": "audit-table",
}


def wait_for_page(page: Page, path: str) -> None:
    """Wait until a portal page has loaded its data (no loading mask, no error)."""
    page.wait_for_url(re.compile(re.escape(path) + r"$"))
    if path.startswith("/ledgers/"):
        expect(page.get_by_test_id("ledger-table")).to_be_visible()
        expect(page.get_by_test_id("ledger-pager")).to_be_visible()
    else:
        expect(page.get_by_test_id(PAGE_MARKERS[path])).to_be_visible()
    expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
    expect(page.locator(".el-alert--error")).to_have_count(0)


@pytest.mark.parametrize("username", ["property", "committee"])
def test_every_menu_page_loads_without_console_errors(portal: Portal, username: str) -> None:
    """Each ledger and admin page of the user's menu loads with no console error or failed
    request; the breadcrumb names the family and the item."""
    portal.open_and_login(username)
    page = portal.page
    token = portal.local(TOKENS_KEY)["access"]
    visited = 0
    for group in portal.server.api("GET", "/me/menus", token):
        for item in group["items"]:
            if not (item["path"].startswith("/ledgers/") or item["path"] in PAGE_MARKERS):
                continue  # pages of later slices
            page.get_by_test_id(f"menu-item-{item['key']}").click()
            wait_for_page(page, item["path"])
            expect(page.get_by_test_id("breadcrumb")).to_contain_text(group["label"])
            expect(page.get_by_test_id("breadcrumb")).to_contain_text(item["label"])
            visited += 1
    assert visited >= 3
    page.get_by_test_id("menu-home").click()
    expect(page.get_by_test_id("home")).to_be_visible()
    assert portal.unexpected_errors() == []


# -- the generic ledger page -------------------------------------------------------------


def test_ledger_filters_sorts_and_exports(portal: Portal, tmp_path: Path) -> None:
    """Filter by kind, sort by name, export CSV and XLSX with translated headers."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    server = portal.server
    token = portal.local(TOKENS_KEY)["access"]
    meta = ledger_meta(server, token)
    labels = [f["label"] for f in meta["fields"]]
    expect(table_rows(page).first).to_be_visible()
    portal.screenshot("portal-ledger", docs=True)

    choose(page, page.get_by_test_id("filter-kind"), "物业服务企业")
    expected = server.api("GET", "/organisations?kind=property_company&sort=name", token)
    expect(table_rows(page)).to_have_count(expected["total"])
    assert set(column_texts(page, 4)) == {"物业服务企业"}
    expect(page.get_by_test_id("ledger-pager")).to_contain_text(str(expected["total"]))

    with page.expect_download() as download_info:
        page.get_by_test_id("ledger-export").click()
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    assert download.suggested_filename == "organisations.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    exported = list(csv.reader(io.StringIO(text)))
    assert exported[0] == labels
    assert len(exported) - 1 == expected["total"]
    assert {row[labels.index("类型")] for row in exported[1:]} == {"物业服务企业"}

    with page.expect_download() as download_info:
        page.get_by_test_id("ledger-export").click()
        page.get_by_test_id("export-xlsx").click()
    target = tmp_path / "organisations.xlsx"
    download_info.value.save_as(target)
    sheet = load_workbook(target, read_only=True).worksheets[0]
    header = next(sheet.iter_rows(values_only=True))
    assert list(header) == labels

    page.get_by_test_id("filter-reset").click()
    everything = server.api("GET", "/organisations?sort=-name&page_size=20", token)
    expect(table_rows(page)).to_have_count(min(everything["total"], 20))
    header_cell(page, "名称").click()
    names = [row["name"] for row in everything["items"]]
    expect(table_rows(page).first.locator("td").nth(2)).to_have_text(names[0])
    assert column_texts(page, 3) == names
    assert names == sorted(names, reverse=True)
    assert portal.unexpected_errors() == []


def test_ledger_import_all_rows_or_none(portal: Portal, tmp_path: Path) -> None:
    """An XLSX made here is imported; a bad file lists its row errors and imports nothing."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    expect(table_rows(page).first).to_be_visible()

    page.get_by_test_id("ledger-import-open").click()
    dialog = page.get_by_test_id("ledger-import")
    expect(dialog).to_be_visible()
    with page.expect_download() as download_info:
        dialog.get_by_test_id("import-template").click()
    template = tmp_path / "template.xlsx"
    download_info.value.save_as(template)
    header = next(load_workbook(template, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert "名称*" in header
    assert "类型*" in header

    good = write_xlsx(tmp_path / "good.xlsx", [
        ["名称*", "类型*", "联系人", "重点单位"],
        ["导入测试甲物业", "物业服务企业", "李四", None],
        ["导入测试乙家政", "service_company", "王五", True],
    ])
    dialog.locator("input[type=file]").set_input_files(good)
    dialog.get_by_test_id("import-submit").click()
    expect(dialog).to_be_hidden()
    search_keyword(page, "导入测试")
    expect(table_rows(page)).to_have_count(2)
    assert set(column_texts(page, 3)) == {"导入测试甲物业", "导入测试乙家政"}

    bad = write_xlsx(tmp_path / "bad.xlsx", [
        ["名称", "类型", "联系人"],
        [None, "物业服务企业", "缺名称"],
        ["坏文件里的好行", "服务企业", "赵六"],
        ["坏文件里的坏类型", "不存在的类型", "钱七"],
    ])
    page.get_by_test_id("ledger-import-open").click()
    expect(dialog).to_be_visible()
    dialog.locator("input[type=file]").set_input_files(bad)
    dialog.get_by_test_id("import-submit").click()
    expect(dialog.get_by_test_id("import-failure")).to_be_visible()
    errors = dialog.get_by_test_id("import-errors")
    expect(errors.locator(".el-table__body tbody tr")).to_have_count(2)
    rows = [text.strip() for text in errors.locator(
        ".el-table__body tbody tr td:nth-child(1) .cell").all_inner_texts()]
    assert rows == ["2", "4"]
    expect(errors).to_contain_text("名称")
    expect(errors).to_contain_text("类型")
    dialog.get_by_test_id("import-close").click()
    expect(dialog).to_be_hidden()
    search_keyword(page, "坏文件")
    expect(page.get_by_test_id("ledger-table")).to_contain_text("暂无数据")
    token = portal.local(TOKENS_KEY)["access"]
    assert portal.server.api("GET", "/organisations?q=%E5%9D%8F%E6%96%87%E4%BB%B6",
                             token)["total"] == 0
    assert portal.unexpected_errors(allow=(422,)) == []


def test_ledger_create_edit_delete(portal: Portal) -> None:
    """The generated dialog validates like the metadata, shows server field errors, saves;
    editing changes one field; deleting asks first and removes the row."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    expect(table_rows(page).first).to_be_visible()

    page.get_by_test_id("ledger-create").click()
    form = page.get_by_test_id("ledger-form")
    expect(form).to_be_visible()
    form.get_by_test_id("ledger-form-save").click()
    expect(form.get_by_test_id("form-item-name")).to_contain_text("请填写名称")
    expect(form.get_by_test_id("form-item-kind")).to_contain_text("请选择类型")

    form.get_by_test_id("form-name").fill("对话框测试便民服务站")
    choose(page, form.get_by_test_id("form-kind"), "服务企业")
    form.get_by_test_id("form-contact_phone").fill("not-a-phone")
    form.get_by_test_id("ledger-form-save").click()
    expect(form.get_by_test_id("form-item-contact_phone")).to_contain_text("格式不正确")
    expect(form.get_by_test_id("ledger-form-error")).to_contain_text("请求数据校验未通过")

    form.get_by_test_id("form-contact_phone").fill("0571-87654321")
    form.get_by_test_id("ledger-form-save").click()
    expect(form).to_be_hidden()
    search_keyword(page, "对话框测试")
    expect(table_rows(page)).to_have_count(1)
    row = table_rows(page).first
    expect(row).to_contain_text("服务企业")
    expect(row).to_contain_text("0571-87654321")

    row.get_by_test_id("row-edit").click()
    expect(form).to_be_visible()
    expect(form.get_by_test_id("form-name")).to_have_value("对话框测试便民服务站")
    form.get_by_test_id("form-contact_person").fill("周八")
    form.get_by_test_id("ledger-form-save").click()
    expect(form).to_be_hidden()
    expect(row).to_contain_text("周八")

    row.get_by_test_id("row-delete").click()
    box = page.locator(".el-message-box")
    expect(box).to_contain_text("对话框测试便民服务站")
    box.locator(".el-button--danger").click()
    expect(page.get_by_test_id("ledger-table")).to_contain_text("暂无数据")
    assert portal.unexpected_errors(allow=(422,)) == []


def test_statistics_by_kind(portal: Portal) -> None:
    """Group-by statistics agree with the API's."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    token = portal.local(TOKENS_KEY)["access"]
    stats = portal.server.api("GET", "/organisations/stats?by=kind", token)
    page.get_by_test_id("ledger-stats-open").click()
    dialog = page.get_by_test_id("ledger-stats")
    expect(dialog.get_by_test_id("stats-total")).to_contain_text(str(stats["total"]))
    expect(dialog.locator(".el-table__body tbody tr")).to_have_count(len(stats["groups"]))
    for group in stats["groups"]:
        expect(dialog).to_contain_text(group["label"])
    assert portal.unexpected_errors() == []


# -- languages ---------------------------------------------------------------------------


def test_switch_to_english(portal: Portal) -> None:
    """The user menu switches to English: portal labels, menus and ledger metadata follow."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    expect(table_rows(page).first).to_be_visible()
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("user-language-en").click()
    expect(page.get_by_test_id("menu-group-management")).to_contain_text("Community management")
    expect(page.get_by_test_id("menu-item-parties")).to_contain_text("Community parties")
    expect(page.get_by_test_id("ledger-title")).to_have_text("Organisations")
    expect(header_cell(page, "Kind")).to_be_visible()
    expect(page.get_by_test_id("ledger-table")).to_contain_text("Property company")
    expect(page.get_by_test_id("ledger-create")).to_contain_text("New")
    expect(page.get_by_test_id("breadcrumb")).to_contain_text("Home")
    page.reload()
    expect(page.get_by_test_id("ledger-title")).to_have_text("Organisations")
    assert page.evaluate("window.localStorage.getItem('shequ.language')") == "en"
    assert page.evaluate("document.documentElement.lang") == "en"
    assert portal.unexpected_errors() == []


# -- sessions ----------------------------------------------------------------------------


def test_expired_access_token_is_refreshed(portal: Portal) -> None:
    """An expired access token is refreshed once, transparently, and the page loads."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    expect(table_rows(page).first).to_be_visible()
    tokens = portal.local(TOKENS_KEY)
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    from shequ.platform.security.tokens import issue_access_token

    expired = issue_access_token(SECRET_KEY, int(claims["sub"]), str(claims["sid"]),
                                 dt.timedelta(minutes=-5))
    portal.set_local(TOKENS_KEY, {"access": expired, "refresh": tokens["refresh"]})
    page.reload()
    expect(table_rows(page).first).to_be_visible()
    assert "/login" not in page.url
    renewed = portal.local(TOKENS_KEY)
    assert renewed["access"] != expired
    assert renewed["refresh"] != tokens["refresh"]
    assert portal.unexpected_errors(allow=(401,)) == []


def test_expired_session_returns_to_login_with_the_page(portal: Portal) -> None:
    """Expired access token and an unusable refresh token (the idle or expired case): the
    portal asks to log in again, says why, and returns to the page with its query."""
    path = f"{LEDGER}?from=bookmark"
    portal.open_and_login("property", LEDGER)
    page = portal.page
    expect(table_rows(page).first).to_be_visible()
    tokens = portal.local(TOKENS_KEY)
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    from shequ.platform.security.tokens import issue_access_token

    expired = issue_access_token(SECRET_KEY, int(claims["sub"]), str(claims["sid"]),
                                 dt.timedelta(minutes=-5))
    portal.set_local(TOKENS_KEY, {"access": expired, "refresh": "rt_unusable.refresh"})
    portal.goto(path)
    page.wait_for_url(re.compile(r"/login\?redirect="))
    expect(page.get_by_test_id("login-notice")).to_contain_text("刷新凭证无效或已过期")
    assert portal.local(TOKENS_KEY) is None
    portal.login("property")
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(table_rows(page).first).to_be_visible()
    assert portal.unexpected_errors(allow=(401,)) == []


def test_ended_session_returns_to_login_and_back(portal: Portal) -> None:
    """A session ended on the server sends the user to log in, then back to the page."""
    portal.open_and_login("property", LEDGER)
    page = portal.page
    expect(table_rows(page).first).to_be_visible()
    token = portal.local(TOKENS_KEY)["access"]
    portal.server.api("POST", "/auth/logout", token)
    page.get_by_test_id("menu-item-communities").click()
    page.wait_for_url(re.compile(r"/login\?redirect=(/|%2F)admin(/|%2F)communities"))
    expect(page.get_by_test_id("login-notice")).to_contain_text("会话已注销")
    portal.login("property")
    page.wait_for_url(re.compile(r"/admin/communities$"))
    expect(page.get_by_test_id("admin-communities")).to_contain_text("DEMO")
    assert portal.unexpected_errors(allow=(401,)) == []


def test_logout_forgets_the_session(portal: Portal) -> None:
    """Log-out from the user menu returns to log-in; the portal then asks to log in again."""
    portal.open_and_login("property")
    page = portal.page
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r"/login"))
    assert portal.local(TOKENS_KEY) is None
    portal.goto(LEDGER)
    page.wait_for_url(re.compile(r"/login\?redirect="))
    assert portal.unexpected_errors() == []


# -- administration ----------------------------------------------------------------------


def test_admin_api_keys_and_audit_chain(portal: Portal) -> None:
    """The platform administrator issues a key (shown once), revokes it, verifies the chain."""
    portal.open_and_login("admin", "/admin/api-keys")
    page = portal.page
    expect(page.get_by_test_id("community-select")).to_contain_text("全部社区")
    page.get_by_test_id("api-key-create").click()
    form = page.get_by_test_id("api-key-form")
    form.get_by_test_id("api-key-name").fill("浏览器测试接入")
    choose(page, form.get_by_test_id("api-key-permissions"), "organisations:read",
           close_on=form.locator(".el-dialog__header"))
    choose(page, form.get_by_test_id("api-key-communities"), "翠苑一区（演示社区）",
           close_on=form.locator(".el-dialog__header"))
    form.get_by_test_id("api-key-save").click()
    secret = page.get_by_test_id("api-key-secret")
    expect(secret).to_be_visible()
    key = page.get_by_test_id("api-key-secret-value").input_value()
    assert len(key) > 20
    secret.get_by_role("button", name="确定").click()
    table = page.get_by_test_id("api-keys-table")
    row = table.locator(".el-table__body tbody tr", has_text="浏览器测试接入")
    expect(row).to_contain_text("有效")
    row.get_by_test_id("api-key-revoke").click()
    page.locator(".el-message-box .el-button--danger").click()
    expect(row).to_contain_text("已吊销")

    page.get_by_test_id("menu-item-audit").click()
    audit = page.get_by_test_id("admin-audit")
    expect(audit.get_by_test_id("audit-table")).to_contain_text("api_keys")
    audit.get_by_test_id("audit-action").fill("auth.login")
    audit.get_by_test_id("audit-search").click()
    actions = audit.get_by_test_id("audit-table").locator(
        ".el-table__body tbody tr td:nth-child(5)")
    expect(actions.first).to_have_text("auth.login")
    assert set(actions.all_inner_texts()) == {"auth.login"}
    audit.get_by_test_id("audit-verify").click()
    expect(audit.get_by_test_id("audit-verdict")).to_contain_text("审计链完整")
    assert portal.unexpected_errors() == []


def test_property_manager_creates_a_user(portal: Portal) -> None:
    """Users list and creation with a built-in role from the translated static list."""
    portal.open_and_login("property", "/admin/users")
    page = portal.page
    page.get_by_test_id("user-create").click()
    form = page.get_by_test_id("user-form")
    form.get_by_test_id("user-username").fill("guard01")
    form.get_by_test_id("user-display-name").fill("值班保安一号")
    form.get_by_test_id("user-password").fill("Guard#2026-Night")
    choose(page, form.get_by_test_id("user-role"), "安防值班员")
    form.get_by_test_id("user-save").click()
    expect(form).to_be_hidden()
    expect(page.get_by_test_id("users-table")).to_contain_text("guard01")
    assert portal.unexpected_errors() == []
