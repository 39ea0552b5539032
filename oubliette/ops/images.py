"""ImageManager: container type -> image, the valid types, and making sure an image is here.

Types come only from the config, never from a hard-coded list, so a custom type is a
first-class citizen everywhere (validation, listings, pre-pulls).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

from oubliette.engines.base import Runtime
from oubliette.errors import OublietteError, UnknownTypeError
from oubliette.report import Reporter

BUILD_HINT = "build the local images with `scripts/build.sh` (dev mode never pulls), or unset OUBLIETTE_DEV"


def not_built(image: str) -> OublietteError:
    """Dev mode's one rule: a local image that is missing is built, never pulled."""
    return OublietteError(f"image {image} not found locally", hint=BUILD_HINT)


RuntimeSource = Union[Runtime, Callable[[], Runtime], None]  # noqa: UP007 (a runtime alias on 3.10)


class ImageManager:
    """`runtime` may be a factory, so type checks never start an engine lookup."""

    def __init__(self, containers: Mapping[str, str], runtime: RuntimeSource = None,
                 dev_mode: bool = False) -> None:
        self.containers = dict(containers)
        self._runtime = runtime
        self.dev_mode = dev_mode

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("ImageManager needs a runtime for engine operations")
        if not isinstance(self._runtime, Runtime):
            self._runtime = self._runtime()
        return self._runtime

    def valid_types(self) -> list[str]:
        return sorted(self.containers)

    def is_valid_type(self, type_name: str) -> bool:
        return type_name in self.containers

    def get_image_name(self, type_name: str) -> str:
        try:
            return self.containers[type_name]
        except KeyError:
            raise UnknownTypeError(
                f"unknown container type: {type_name} (valid types: {', '.join(self.valid_types())})",
                hint="add it to \"containers\" in oubliette.jsonc, or pick one of the valid types",
            ) from None

    def distinct_images(self) -> list[str]:
        """Each configured image once, in sorted type order (the order init pulls them)."""
        seen: dict[str, None] = {}
        for type_name in self.valid_types():
            seen.setdefault(self.containers[type_name], None)
        return list(seen)

    def pull(self, image: str, reporter: Reporter) -> None:
        """Say `Pulling IMAGE...`, then let the engine draw its own progress."""
        if not self.runtime.kind.client_pulls:
            reporter.info(f"{image}: {self.runtime.pull_command(image)}.")
            return
        reporter.info(f"Pulling {image}...")
        self.runtime.pull(image, out=reporter.out, err=reporter.err)

    def ensure_image_exists(self, type_name: str, reporter: Reporter) -> bool:
        """Pull the type's image if it is not here; True when a pull happened.

        Present: exactly one engine call. Dev mode: never pulls, says how to build.
        """
        image = self.get_image_name(type_name)
        if self.runtime.image_exists(image):
            return False
        if self.dev_mode:
            raise not_built(image)
        self.pull(image, reporter)
        return True
