"""`oubliette doctor`: is this setup healthy? Engines, config, images, home, token.

Each check says ok, warn (works, but something is not ready yet: an image not pulled,
no token because init never ran) or fail (something is wrong), with a hint.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from oubliette.app import App, Engine
from oubliette.engines.base import Runtime
from oubliette.errors import EXIT_FAILED, EXIT_NO_ENGINE, EXIT_OK, OublietteError
from oubliette.model import DEFAULT_ENGINE, LABEL_HOME

OK, WARN, FAIL = "ok", "warn", "fail"


class Check(NamedTuple):
    name: str
    status: str
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return self._asdict()


def exit_code(checks: list[Check]) -> int:
    """3 when no engine is usable, 1 for any other failure, else 0 (warnings included)."""
    failed = {c.name for c in checks if c.status == FAIL}
    if "engine" in failed:
        return EXIT_NO_ENGINE
    return EXIT_FAILED if failed else EXIT_OK


def run_checks(app: App) -> list[Check]:
    checks = [_config(app)]
    engine_check, runtime = _engine(app, config_ok=checks[0].status == OK)
    checks.append(engine_check)
    if checks[0].status != FAIL and runtime is not None and engine_check.status == OK:
        checks += _images(Engine(app, DEFAULT_ENGINE, runtime))  # the engine just checked
    if checks[0].status != FAIL:
        checks += _named_engines(app) + _earlier_defaults(app)
    checks += [_home(app), _token(app)]
    return checks


def _config(app: App) -> Check:
    try:
        config = app.config
    except OublietteError as error:
        return Check("config", FAIL, error.message, error.hint)
    if not config.exists:
        return Check("config", WARN, f"{config.path} does not exist: using the built-in types",
                     "run `oubliette init` to write a commented config")
    return Check("config", OK, f"{config.path}: {len(config.containers)} container type(s), runtime "
                               f"{config.runtime!r}")


def _engine(app: App, config_ok: bool) -> tuple[Check, Runtime | None]:
    """The default engine's check, and the runtime it found (None when none was found)."""
    from oubliette.engines.detect import detect_runtime, requested_runtime

    notes: list[str] = []
    try:
        choice = requested_runtime(app.runtime_choice, app.config.runtime if config_ok else None, app.env)
        if config_ok:
            runtime = app.engine().runtime  # the home's engine, recorded on first use
        else:
            runtime = detect_runtime(choice, app.env, note=notes.append)
    except OublietteError as error:
        return Check("engine", FAIL, error.message, error.hint), None
    record = app.engine_choice if config_ok else None
    if choice != "auto":
        why = "asked for with --runtime, OUBLIETTE_RUNTIME or the config"
    elif record is not None:
        why = f"this home's engine since {record.since[:10]} ({record.how})"
    elif notes:  # "Using Docker (the first that answered; installed: docker, podman)."
        why = "auto: " + notes[0][notes[0].find("(") + 1:notes[0].rfind(")")]
    else:
        why = "auto: the only engine installed"
    version = runtime.version_text() or "version unknown"
    if not runtime.is_running():
        from oubliette.engines.where import unreachable_hint

        where = runtime.where()
        return Check("engine", FAIL, f"{where.of(runtime.display_name)} ({runtime.binary}, {version}) does not answer",
                     unreachable_hint(runtime.kind, where, runtime.texts.start_hint)), runtime
    try:  # what every command needs: a listing oubliette can read
        runtime.list_containers(LABEL_HOME, include_stopped=True)
    except OublietteError as error:
        return Check("engine", FAIL, f"{runtime.display_name} ({runtime.binary}) answers, but: {error.message}",
                     error.hint), runtime
    return Check("engine", OK, f"{runtime.display_name} via `{runtime.binary}`: {version}; {why}"), runtime


def _named_engines(app: App) -> list[Check]:
    """Each engine of the config's "engines": does it answer? (Warn only when no project uses it.)"""
    if not app.config.engines:
        return []
    used = {p.engine for p in app.projects.list()}
    checks = []
    for name, entry in sorted(app.config.engines.items()):
        runtime = app.engine(name).runtime
        label = f"engine {name}"
        if runtime.is_running():
            checks.append(Check(label, OK, f"{runtime.display_name} at {entry.endpoint} answers"))
            for what, passed, detail in runtime.health():
                checks.append(Check(f"{label}: {what}", OK if passed else FAIL if passed is False else WARN, detail,
                                    None if passed else f"see the Role and storage in docs/ENGINES.md "
                                                        f"(engines.{name} in {app.config.path})"))
        else:
            checks.append(Check(label, FAIL if name in used else WARN,
                                f"{runtime.display_name} at {entry.endpoint} does not answer"
                                + ("" if name in used else " (no project uses it)"),
                                f"check that it is up and reachable from here, and the entry engines.{name} "
                                f"in {app.config.path}"))
    return checks


def _earlier_defaults(app: App) -> list[Check]:
    """The default engine of another kind that older projects were made on (`default:docker`)."""
    from oubliette.engines.fleet import engines_in_use

    try:
        earlier = [name for name in engines_in_use(app) if name.startswith(f"{DEFAULT_ENGINE}:")]
    except OublietteError:
        return []
    checks = []
    for name in earlier:
        runtime = app.engine(name).runtime
        where = runtime.where().of(runtime.display_name)
        if runtime.is_running():
            checks.append(Check(f"engine {name}", OK, f"{where} answers (projects made on it before the home's "
                                                      "engine changed)"))
        else:
            checks.append(Check(f"engine {name}", FAIL, f"{where} does not answer; projects made on it before the "
                                                        "home's engine changed wait for it",
                                runtime.texts.start_hint))
    return checks


def _images(engine: Engine) -> list[Check]:
    checks = []
    for image in engine.images.distinct_images():
        try:
            present = engine.runtime.image_exists(image)
        except OublietteError as error:
            checks.append(Check(f"image {image}", FAIL, error.message, error.hint))
            continue
        if present:
            checks.append(Check(f"image {image}", OK, "present locally"))
        elif engine.app.config.dev_mode:
            checks.append(Check(f"image {image}", WARN, "not built yet (dev mode never pulls)",
                                "build it with scripts/build.sh (or give the config an image this engine has)"))
        else:
            checks.append(Check(f"image {image}", WARN, "not pulled yet (the first start pulls it)",
                                f"pull it now with `oubliette init` or `{engine.runtime.pull_command(image)}`"))
    return checks


def _home(app: App) -> Check:
    home = app.home
    if not os.path.exists(home):
        return Check("home", WARN, f"{home} does not exist yet", "run `oubliette init`")
    loose = []
    for part in ("", "config", "data", "data/projects", "config/oubliette.jsonc", "data/home.id"):
        path = os.path.join(home, part) if part else home
        if os.path.exists(path) and stat.S_IMODE(os.lstat(path).st_mode) & 0o077:
            loose.append(path)
    if loose:
        return Check("home", FAIL, f"readable or writable by others: {', '.join(loose)}",
                     "run `oubliette init` (it makes directories 0700 and files 0600)")
    return Check("home", OK, f"{home}: private (directories 0700, files 0600)")


def _token(app: App) -> Check:
    from oubliette.store.home import read_token, token_path

    try:
        token = read_token(app.home)
    except OublietteError as error:
        return Check("admin token", FAIL, error.message, error.hint)
    if token is None:
        return Check("admin token", WARN, f"{token_path(app.home)} does not exist (init has not run)",
                     "run `oubliette init` to create it (it guards `oubliette mcp` over HTTP)")
    return Check("admin token", OK, f"{token_path(app.home)}: present, mode 0600")
