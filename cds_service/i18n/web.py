"""The Flask side of localisation: Flask-Babel, the locale of each request, the language switcher.

The locale of a request (``select_locale``):

- the CDS Hooks service (cards): the request's ``Accept-Language``, else ``DEFAULT_LOCALE``;
- the pages (worklist, SMART app, error pages): the language the user chose with the switcher
  (a cookie), else ``Accept-Language``, else ``DEFAULT_LOCALE``.

Templates use Flask-Babel's ``_``/``gettext``/``ngettext``/``pgettext`` (catalogs loaded once per
locale and kept); engine messages (criteria reasons and titles) are rendered by
``cds_service.i18n.render`` in the same locale (``reason``, ``criterion_title`` filters).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask_babel import Babel, get_locale
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from cds_service.i18n.locales import (
    DEFAULT,
    HTML_LANG,
    NAMES,
    SUPPORTED,
    match,
    negotiate,
    parse_accept_language,
)
from cds_service.i18n.message import N_, TEMPLATES, DecodeError, Msg, decode, decode_msg, define
from cds_service.i18n.render import TRANSLATIONS_DIR, Renderer, renderer
from cds_service.i18n.words import WORDS  # noqa: F401 (the pages' shared words)

COOKIE = "igg4_cds_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Blueprints that answer programs (CDS clients, API clients): no user's choice applies.
PROGRAM_BLUEPRINTS = frozenset({"cds_hooks", "health"})

bp = Blueprint("i18n", __name__, template_folder="templates")


def request_locale(*, user_choice: bool = True) -> str:
    """The locale of the current request (see the module docstring)."""
    if not has_request_context():
        return str(current_app.config.get("DEFAULT_LOCALE") or DEFAULT)
    if user_choice and request.blueprint not in PROGRAM_BLUEPRINTS:
        chosen = match(request.cookies.get(COOKIE))
        if chosen is not None:
            return chosen
    asked = negotiate(parse_accept_language(request.headers.get("Accept-Language")))
    return asked or str(current_app.config.get("DEFAULT_LOCALE") or DEFAULT)


def select_locale() -> str:
    return request_locale(user_choice=True)


def current_locale() -> str:
    """The locale Flask-Babel chose for this request (``en`` or ``zh_Hans``)."""
    locale = get_locale() if has_request_context() else None
    found = match(str(locale)) if locale is not None else None
    return found or str(current_app.config.get("DEFAULT_LOCALE") or DEFAULT)


def tr() -> Renderer:
    """The renderer of engine messages in the request's locale."""
    return renderer(current_locale())


# ---- the language switcher ---------------------------------------------------------------------


def _local_target(target: str | None) -> str:
    """Only a path on this site: never another site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


@bp.get("/language/<locale>")
def choose(locale: str) -> BaseResponse:
    """Remember the user's language (a cookie, for a year) and go back to the page."""
    chosen = match(locale)
    if chosen is None:
        abort(404)
    response = redirect(_local_target(request.args.get("next")), 303)
    response.set_cookie(
        COOKIE,
        chosen,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


def switch_links() -> list[dict[str, Any]]:
    """The switcher's links: every locale, in its own name, the current one marked."""
    here = request.full_path if request.query_string else request.path
    current = current_locale()
    return [
        {
            "locale": loc,
            "name": NAMES[loc],
            "lang": HTML_LANG[loc],
            "url": url_for("i18n.choose", locale=loc, next=here),
            "current": loc == current,
        }
        for loc in SUPPORTED
    ]


# ---- error pages -------------------------------------------------------------------------------

HTTP_WORDS = define(
    N_("http.400", "The request could not be understood"),
    N_("http.401", "Sign-in needed"),
    N_("http.403", "Not allowed"),
    N_("http.404", "Not found"),
    N_("http.405", "Not allowed here"),
    N_("http.409", "Changed meanwhile"),
    N_("http.413", "Too large"),
    N_("http.415", "Not a supported format"),
    N_("http.429", "Too many attempts"),
    N_("http.500", "Something went wrong"),
    N_("http.502", "Another service failed"),
    N_("http.503", "Not available right now"),
    N_("http.other", "Error {code}"),
    N_("http.400.detail", "Something in the request is not valid."),
    N_("http.401.detail", "Sign in to see this page."),
    N_("http.403.detail", "Your role does not allow this."),
    N_("http.404.detail", "There is nothing at this address."),
    N_("http.405.detail", "This page does not accept that kind of request."),
    N_("http.409.detail", "Someone changed this meanwhile: reload the page and try again."),
    N_("http.413.detail", "What was sent is larger than this service accepts."),
    N_("http.415.detail", "What was sent is not in a format this service reads."),
    N_("http.429.detail", "Too many attempts: wait a while, then try again."),
    N_("http.500.detail", "The service failed unexpectedly. Try again, or tell the study team."),
    N_("http.502.detail", "A service this one relies on failed. Try again in a moment."),
    N_("http.503.detail", "The service is not available right now. Try again in a moment."),
)


def http_title(code: int) -> str:
    """The title of an error page, in the page's language."""
    key = f"http.{code}"
    return message(key) if key in HTTP_WORDS else message("http.other", code=str(code))


def http_detail(exc: HTTPException) -> str:
    """What went wrong: the message the service gave (a lazy translation, or text that names a
    setting or a limit), else a sentence for the status in the page's language."""
    code = exc.code or 500
    given = exc.description
    default = type(exc).description
    if given and given != default:
        return str(given)
    key = f"http.{code}.detail"
    return message(key) if key in HTTP_WORDS else str(given or "")


# ---- template helpers --------------------------------------------------------------------------


def reason(criterion: Any) -> str:
    """A criterion's reason in the page's language (its ``reasonCode``/``reasonArgs``), else its
    English ``reason`` (an assessment stored before reasons carried codes)."""
    if not isinstance(criterion, dict):
        return ""
    code = criterion.get("reasonCode")
    if code is not None:
        try:
            return tr()(decode_msg(code, criterion.get("reasonArgs") or {}))
        except DecodeError:
            pass
    return str(criterion.get("reason") or "")


def criterion_title(criterion: Any) -> str:
    """A criterion's title in the page's language, with its values (``titleArgs``); without them,
    the English title stored with it when its template needs values it does not have."""
    if not isinstance(criterion, dict):
        return ""
    key = f"title.{criterion.get('id')}"
    stored = str(criterion.get("title") or "")
    if key not in TEMPLATES:
        return stored
    raw = criterion.get("titleArgs")
    try:
        values = {str(k): decode(v) for k, v in (raw or {}).items()} if raw is not None else None
    except (DecodeError, AttributeError):
        values = None
    if values is None and "{" in TEMPLATES[key].singular:
        return stored or tr().text(f"name.{criterion.get('id')}")
    return tr()(Msg(key, values or {}))


def message(key: str, default: str | None = None, **values: Any) -> str:
    """A message by id in the page's language (``{{ message('name.I3') }}``); ``default`` (else
    the id) when no message has that id (a code the catalog does not know)."""
    if key not in TEMPLATES:
        return key if default is None else default
    return tr().text(key, **values)


# The names a worklist gap may give a lab (rowfacts: the engine's "lab.*" message ids without
# "lab.", or, for assessments stored before reasons carried ids, the English names of the reason)
# to the analyte whose short name the pages show ("analyte.*").
_LAB_ALIASES: dict[str, str] = {
    "haemoglobin": "hemoglobin",
    "hb": "hemoglobin",
    "tbil": "bilirubin",
    "total bilirubin": "bilirubin",
    "egfr-missing": "creatinine-or-egfr",
    "egfr (no creatinine or reported egfr)": "creatinine-or-egfr",
}


def lab_name(name: str, default: str | None = None) -> str:
    """A lab's short name in the page's language ("Hb", "血红蛋白"), from an analyte key or a name
    a gap gives it; ``default`` (else the name as given) when it is none we know."""
    key = str(name).strip().lower()
    key = _LAB_ALIASES.get(key, key)
    if f"analyte.{key}" in TEMPLATES:
        return message(f"analyte.{key}")
    return name if default is None else default


def visit_short(cid: str) -> str:
    """What the screening visit confirms for ``cid``, in two words."""
    return message(f"visit-short.{cid}", default=cid)


def number(value: Any, pattern: str = "#,##0.##") -> str:
    """A number in the page's locale (Babel): ``1,300``; ``0.9``."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    return tr().decimal(amount, pattern)


def day(value: date | datetime | str | None) -> str:
    """A date in the page's locale (ISO in English, 2026年11月24日 in Chinese)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            return tr().date(date.fromisoformat(value[:10]))
        except ValueError:
            return value
    return tr().date(value)


def moment(value: datetime | None) -> str:
    """A time stamp: the date in the page's locale, then HH:MM."""
    if value is None:
        return ""
    return f"{day(value)} {value.strftime('%H:%M')}"


# ---- the application ---------------------------------------------------------------------------


def _content_language(response: Response) -> Response:
    """Pages say their language; a cache keeps one copy per language."""
    if response.mimetype == "text/html":
        response.headers["Content-Language"] = HTML_LANG[current_locale()]
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def init_app(app: Flask) -> None:
    """Flask-Babel with this project's catalogs and locale selection; the switcher; helpers."""
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    app.config["BABEL_DEFAULT_LOCALE"] = str(app.config.get("DEFAULT_LOCALE") or DEFAULT)
    Babel(app, locale_selector=select_locale)
    # {% trans %} blocks are extracted trimmed (pyproject.toml [tool.babel]): render them so too
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.register_blueprint(bp)
    app.after_request(_content_language)
    # (numbers and dates: the worklist's filters, cds_service/worklist/display.py, use ours)
    app.add_template_filter(reason, "reason")
    app.add_template_filter(criterion_title, "criterion_title")
    app.add_template_filter(lab_name, "lab_name")
    app.add_template_filter(visit_short, "visit_short")

    # globals, not context: macros imported without context use them too
    app.add_template_global(message, "message")
    app.add_template_global(switch_links, "language_links")

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = current_locale()
        return {"html_lang": HTML_LANG[locale], "current_locale": locale}
