"""A stateful fake `podman`: the docker fake's containers, images and volumes, answered in
podman's own shapes and words (recorded from podman 4.3 in tests/unit/recorded/podman):
`ps --format json` as one array with `Names` a list, bare hex image ids, its error texts,
and CONTAINER_HOST instead of DOCKER_HOST for a named engine."""

from __future__ import annotations

import json
import os

from tests.unit.fakes.docker import FakeDocker
from tests.unit.helpers import recorded

NO_SUCH_CONTAINER = 'Error: no container with name or ID "{name}" found: no such container\n'
IMAGE_NOT_KNOWN = "Error: inspecting object: {ref}: image not known\n"
NAME_IN_USE = ('Error: creating container storage: the container name "{name}" is already in use by {id}. '
               "You have to remove that container to be able to reuse that name: that name is already in use\n")


def bare(image_id: str) -> str:
    """podman prints image ids without the `sha256:` prefix."""
    return image_id.removeprefix("sha256:")


class FakePodman(FakeDocker):
    binary = "podman"
    host_variable = "CONTAINER_HOST"
    no_such_container = NO_SUCH_CONTAINER
    daemon_down_text = "podman/service_down.stderr"

    def _engine_for(self, env) -> FakeDocker | None:
        host = (os.environ if env is None else env).get(self.host_variable)
        return self if not host else self.remotes.get(host)

    def _unreachable(self, host: str) -> str:
        return recorded("podman/service_down.stderr").replace("unix:///nonexistent.sock", host)

    def _version(self, args):
        return 0, "4.3.1\n", ""

    def _image(self, args):
        if args[0] == "rm":
            return super()._image(args)
        assert args[:3] == ["inspect", "--format", "{{.Id}}"], args
        missing = [ref for ref in args[3:] if ref not in self.images]
        out = "".join(bare(self.images[ref]) + "\n" for ref in args[3:] if ref in self.images)
        return (125 if missing else 0), out, "".join(IMAGE_NOT_KNOWN.format(ref=ref) for ref in missing)

    def _pull(self, args):
        ref = args[0]
        if ref not in self.registry and ref not in self.pull_errors:
            return 125, "", recorded("podman/pull_missing_tag.stderr").replace("localhost:5055/pbb:nope", ref)
        rc, _, err = super()._pull(args)
        return rc, (bare(self.images[ref]) + "\n" if rc == 0 else ""), err

    def _run(self, args):
        rc, out, err = super()._run(args)
        if rc == 125 and "Conflict" in err:
            name = args[args.index("--name") + 1]
            return 125, "", NAME_IN_USE.format(name=name, id=self.containers[name].id)
        if rc == 125:
            return 125, "", f"Error: {args[-3] if len(args) > 2 else ''}: image not known\n"
        return rc, out, err

    def _ps(self, args):
        assert args[-2:] == ["--format", "json"], args
        show_all = "--all" in args
        key, has_value, value = args[args.index("--filter") + 1].removeprefix("label=").partition("=")
        rows = [{"Id": c.id, "Names": [c.name], "State": c.state, "Image": c.image, "ImageID": bare(c.image_id),
                 "Labels": c.labels, "Mounts": ["/workspace"]}
                for c in self.containers.values()
                if key in c.labels and (not has_value or c.labels[key] == value)
                and (show_all or c.state == "running")]
        return 0, json.dumps(rows) + "\n", ""

    def _container(self, args):
        rc, out, err = super()._container(args)
        rows = json.loads(out)
        for row in rows:
            row["Name"] = row["Name"].lstrip("/")
            row["Image"] = bare(row["Image"])
        missing = [name for name in args[1:] if name not in self.containers]
        return (125 if missing else rc), json.dumps(rows) + "\n", \
            "".join(f"Error: inspecting object: no such container {name}\n" for name in missing)

    def _volume(self, args):
        if args[0] == "create" and args[-1] in self.volumes:
            return 125, "", recorded("podman/volume_create_exists.stderr").replace(
                "oubliette-proj_0123456789ab-workspace", args[-1])
        rc, out, err = super()._volume(args)
        if rc and "no such volume" in err:
            return 125, "", f'Error: no volume with name "{args[1]}" found: no such volume\n'
        return rc, out, err

    def _system(self, args):
        assert args[:2] == ["connection", "list"], args
        return 0, json.dumps([{"Name": "lab", "URI": "ssh://me@lab/run/podman/podman.sock"}]) + "\n", ""
