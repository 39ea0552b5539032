"""`oubliette init` against a real engine and a loopback registry."""

from __future__ import annotations

import stat

from tests.e2e.conftest import docker, oubliette, write_config


def image_present(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def test_init_pulls_every_configured_image_with_native_progress(home, images):
    base = images.push(images.repo("base") + ":latest")
    dev = images.push(images.repo("dev") + ":latest")
    write_config(home, {"dev": dev.ref, "base": base.ref, "alias": base.ref})
    assert not image_present(base.ref) and not image_present(dev.ref)

    first = oubliette("init", home=home)
    assert first.returncode == 0, first.stderr
    assert image_present(base.ref) and image_present(dev.ref)
    assert first.stdout.count(f"Pulling {base.ref}...") == 1  # distinct images once
    assert "Digest: sha256:" in first.stdout and "Status: Downloaded newer image" in first.stdout
    # sorted type order: alias/base share the base image, dev comes last
    assert first.stdout.index(f"Pulling {base.ref}...") < first.stdout.index(f"Pulling {dev.ref}...")

    token = home / "data" / "admin.token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    config_before, token_before = (home / "config" / "oubliette.jsonc").read_bytes(), token.read_bytes()

    second = oubliette("init", home=home)
    assert second.returncode == 0, second.stderr
    assert (home / "config" / "oubliette.jsonc").read_bytes() == config_before
    assert token.read_bytes() == token_before
    assert f"Pulling {dev.ref}..." in second.stdout and "Status: Image is up to date" in second.stdout


def test_init_warns_on_a_missing_image_and_still_succeeds(home, images, registry):
    good = images.push(images.repo("good") + ":latest")
    missing = f"{registry}/oubliette-test-never-pushed:v1"
    write_config(home, {"a-missing": missing, "b-good": good.ref})
    result = oubliette("init", home=home)
    assert result.returncode == 0, result.stderr
    assert f"Warning: image not found: {missing}" in result.stderr
    assert f"docker pull {missing}" in result.stderr
    assert "manifest unknown" in result.stderr  # the engine's own words
    assert image_present(good.ref)
    assert "Traceback" not in result.stderr


def test_init_with_daemon_down_warns_and_exits_0(home, images, registry):
    write_config(home, {"dev": f"{registry}/oubliette-test-x:latest"})
    result = oubliette("--runtime", "docker", "init", home=home,
                       env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode == 0, result.stderr
    assert ("Warning: cannot pull container images: Docker at unix:///nonexistent.sock (DOCKER_HOST) "
            "cannot be reached") in result.stderr
    assert f"docker pull {registry}/oubliette-test-x:latest" in result.stderr
    assert (home / "data" / "admin.token").exists()
