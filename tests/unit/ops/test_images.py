"""ImageManager: types come from the config only; ensure pulls only when missing."""

from __future__ import annotations

import pytest

from oubliette.engines.docker import DockerRuntime, image_id_argv, pull_argv
from oubliette.errors import OublietteError, UnknownTypeError
from oubliette.ops.images import ImageManager
from oubliette.report import Reporter
from tests.unit.helpers import recorded

CONTAINERS = {"dev": "ghcr.io/x/dev:latest", "base": "ghcr.io/x/base:latest", "python-ml": "my.reg/ml:v2",
              "alias": "ghcr.io/x/base:latest"}


def test_types_are_sorted_and_from_config():
    images = ImageManager(CONTAINERS)
    assert images.valid_types() == ["alias", "base", "dev", "python-ml"]
    assert images.is_valid_type("python-ml") and not images.is_valid_type("osint")
    assert images.get_image_name("python-ml") == "my.reg/ml:v2"


def test_unknown_type_lists_valid_ones():
    with pytest.raises(UnknownTypeError) as caught:
        ImageManager(CONTAINERS).get_image_name("osint")
    assert caught.value.message == "unknown container type: osint (valid types: alias, base, dev, python-ml)"


def test_distinct_images_in_sorted_type_order():
    expected = ["ghcr.io/x/base:latest", "ghcr.io/x/dev:latest", "my.reg/ml:v2"]
    assert ImageManager(CONTAINERS).distinct_images() == expected


def test_present_image_is_one_engine_call(fp):
    fp.register(image_id_argv("docker", "ghcr.io/x/dev:latest"), stdout=recorded("docker/image_inspect_present.stdout"))
    images = ImageManager(CONTAINERS, DockerRuntime())
    assert images.ensure_image_exists("dev", Reporter()) is False
    assert len(fp.calls) == 1


def test_absent_image_is_pulled_with_a_pulling_line(fp, capsys):
    fp.register(image_id_argv("docker", "ghcr.io/x/dev:latest"), returncode=1,
                stderr=recorded("docker/image_inspect_missing.stderr"))
    fp.register(pull_argv("docker", "ghcr.io/x/dev:latest"), stdout=recorded("docker/pull_new.stdout"))
    reporter = Reporter()
    images = ImageManager(CONTAINERS, DockerRuntime())
    assert images.ensure_image_exists("dev", reporter) is True
    assert capsys.readouterr().out.startswith("Pulling ghcr.io/x/dev:latest...\n")


def test_dev_mode_never_pulls(fp):
    fp.register(image_id_argv("docker", "ghcr.io/x/dev:latest"), returncode=1,
                stderr=recorded("docker/image_inspect_missing.stderr"))
    images = ImageManager(CONTAINERS, DockerRuntime(), dev_mode=True)
    with pytest.raises(OublietteError) as caught:
        images.ensure_image_exists("dev", Reporter())
    assert "scripts/build.sh" in caught.value.hint
    assert len(fp.calls) == 1


def test_runtime_factory_is_called_once_and_lazily():
    made = []
    images = ImageManager(CONTAINERS, lambda: made.append(1) or DockerRuntime())
    images.valid_types()
    assert made == []
    assert images.runtime is images.runtime
    assert made == [1]
