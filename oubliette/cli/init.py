"""`oubliette init`: config, directories, admin token, then warm every configured image."""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from oubliette.app import App
from oubliette.engines.kinds import RUNTIME_CHOICES
from oubliette.errors import OublietteError


@click.command("init")
@click.option("--home", "home_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Initialize this directory instead of the global --home / $OUBLIETTE_HOME / ~/.oubliette.")
@click.option("--force", is_flag=True,
              help="Rewrite the config; the old one is kept as oubliette.jsonc.bak (or .bak.1, .bak.2, ... - "
                   "a backup is never overwritten). The token is kept.")
@click.option("--no-pull", is_flag=True, help="Do not pre-pull the configured images.")
@click.option("--dev", "dev", is_flag=True,
              help="Rewrite the config for dev mode: the local images scripts/build.sh makes, never pulled "
                   "(the old config is kept as a backup); use with OUBLIETTE_DEV=1.")
@click.option("--runtime", "engine_kind", type=click.Choice(list(RUNTIME_CHOICES[1:])),
              help="Make this engine the home's default from now on (projects made on another keep theirs).")
@click.pass_obj
def init(app: App, home_dir: str | None, force: bool, no_pull: bool, dev: bool, engine_kind: str | None) -> None:
    """Create the config, data directories and admin token, then pull every configured image.

    Safe to run again: an existing config and token are kept. A failed pull, or no
    container engine at all, is a warning: init still succeeds and says how to pull
    later. The home's default engine is decided once (here, or by the first command
    that needs one) and recorded; `--runtime` changes it.
    """
    from oubliette.store.home import initialize

    if home_dir:
        app = App(home=home_dir, runtime_choice=app.runtime_choice, reporter=app.reporter)
    reporter = app.reporter
    result = initialize(app.home, app.dev_mode or dev, force=force or dev)

    if result.config_backup:
        saved = os.path.basename(result.config_backup)
        reporter.info(f"Rewrote {result.config_path} (previous config saved as {saved}).")
    elif result.config_written:
        reporter.info(f"Created {result.config_path}")
    else:
        reporter.info(f"Kept existing config {result.config_path} (use --force to rewrite it).")
    if result.new_token:
        reporter.info(f"Admin token (shown once; saved to {result.token_path}, mode 0600):")
        reporter.info(f"  {result.new_token}")
    else:
        reporter.info(f"Kept existing admin token {result.token_path}")

    if engine_kind is not None:
        app.choose_engine(engine_kind)
    images = app.types  # validates the config we ended with
    if no_pull:
        reporter.info("Skipping image pulls (--no-pull).")
        return
    if app.config.dev_mode:
        reporter.info("Dev mode (OUBLIETTE_DEV=1): not pulling; build the local images with "
                      "scripts/build.sh: " + ", ".join(images.distinct_images()))
        published = [image for image in images.distinct_images() if "/" in image.split(":")[0]]
        if published:
            reporter.note("  Note: the config names published images (" + ", ".join(published) + "), which "
                          "build.sh does not make: `oubliette init --dev` rewrites it for the local ones "
                          "(the old config is kept as a backup).")
        return
    if dev:
        reporter.note("The config now names the local images; set OUBLIETTE_DEV=1 so oubliette uses them "
                      "without pulling, and build them with scripts/build.sh.")
        return
    _prepull(app)
    _cluster_pulls(app)


def _cluster_pulls(app: App) -> None:
    """A cluster's nodes pull when a pod starts; where this user may list them, each node
    pulls each image now, with a short pod of its own. Failures are warnings, as for pulls."""
    from oubliette.engines.kinds import ENGINES
    from oubliette.errors import OublietteError

    clusters = sorted(name for name, entry in app.config.engines.items() if ENGINES[entry.runtime].cluster)
    for name in clusters:
        try:
            runtime = app.engine(name).runtime
            for image in app.types.distinct_images():
                app.reporter.info(f"Engine {name}: warming {image} on the cluster's nodes...")
                app.reporter.info(f"  {runtime.warm(image)}.")
        except OublietteError as error:
            app.reporter.warn(f"engine {name}: its nodes were not warmed ({error.message}); they pull the images "
                              "when a project's pod starts")


def _prepull(app: App) -> None:
    """Pull each distinct image once, in sorted type order; failures are warnings."""
    from oubliette.errors import EngineError, EngineUnavailableError

    reporter = app.reporter
    pending = app.types.distinct_images()
    engine = app.engine()
    try:
        runtime = engine.runtime
    except EngineUnavailableError as error:
        from oubliette.engines.kinds import ENGINES

        _warn_skipped(app, error, pending, lambda image: "   or: ".join(
            kind.pull_command.format(image=image) for kind in ENGINES.values() if kind.client_pulls))
        return
    reporter.info(f"Pulling {len(pending)} container image{'s' if len(pending) != 1 else ''}...")
    failed = 0
    while pending:
        image = pending.pop(0)
        try:
            engine.images.pull(image, reporter)
        except EngineUnavailableError as error:
            _warn_skipped(app, error, [image, *pending], runtime.pull_command)
            return
        except EngineError as error:
            failed += 1
            reporter.warn(error.message)
            hint = error.hint or f"pull it later with `{runtime.pull_command(image)}`"
            reporter.note(f"  Hint: {hint}")
    if failed:
        reporter.note(f"{failed} image(s) could not be pulled; init is otherwise complete.")
    else:
        reporter.info("All container images are ready.")


def _warn_skipped(app: App, error: OublietteError, images: list[str], manual: Callable[[str], str]) -> None:
    reporter = app.reporter
    reporter.warn(f"cannot pull container images: {error.message}")
    if error.hint:
        reporter.note(f"  Hint: {error.hint}")
    reporter.note("  Pull them later with:")
    for image in images:
        reporter.note(f"    {manual(image)}")
    reporter.note("  Or, without a registry, build them here with scripts/build.sh and use dev mode: "
                  "`OUBLIETTE_DEV=1 oubliette init --dev`.")
