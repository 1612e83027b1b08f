#!/usr/bin/python
# rein.cgroups.apply: rein.toml groups through rein apply / rein down (MIT OR Apache-2.0).
from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Make cgroups with limits exist from a rein.toml (rein apply), or remove them
description:
  - Runs C(rein diff --json) to learn what would change, then C(rein apply) when something does.
  - Idempotent; check mode changes nothing; with C(--diff) shows every interface file that
    changes, old and new value.
  - O(state=absent) removes the groups the file made (C(rein down)).
options:
  src:
    description: A rein.toml on the managed host. One of O(src), O(content), O(groups).
    type: path
  content:
    description: The text of a rein.toml.
    type: str
  groups:
    description:
      - The groups as a dict (group name -> limits in rein.toml's keys, e.g. C(memory), C(cpu),
        C(pids), C(systemd), C(groups) for children); written out as a rein.toml.
    type: dict
  name:
    description: The file's name key (marks the groups it makes); required with O(groups).
    type: str
  defaults:
    description: Limits every group of O(groups) gets (the file's C([defaults])).
    type: dict
  parent:
    description: Put the file's groups beneath this group (C(rein --parent)).
    type: str
  prune:
    description: Also remove groups this file made that it no longer declares.
    type: bool
    default: false
  kill:
    description: Kill the processes of groups being removed (else a populated group is refused).
    type: bool
    default: false
  state:
    description: C(present) applies, C(absent) removes.
    type: str
    choices: [present, absent]
    default: present
  rein:
    description: The rein binary.
    type: path
    default: rein
author: rein developers
"""

EXAMPLES = r"""
- name: Limits from a file shipped with the role
  rein.cgroups.apply:
    src: /etc/rein/rein.toml

- name: Limits given here
  rein.cgroups.apply:
    name: web-tier
    defaults: {pids: 1024}
    groups:
      api: {memory: 1G, cpu: 50%}
      worker: {memory: 2G, cpu-weight: 50}
"""

RETURN = r"""
diff_json:
  description: What C(rein diff --json) said before the change (groups, files old -> new, removals).
  returned: state=present
  type: dict
removed:
  description: The groups removed (state=absent).
  returned: state=absent
  type: list
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(k):
    return k if BARE_KEY.match(k) else json.dumps(k)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise ValueError(f"cannot write {v!r} ({type(v).__name__}) into a rein.toml")


def toml_group(lines, path, settings):
    lines.append("")
    lines.append("[groups." + ".groups.".join(toml_key(p) for p in path) + "]")
    children = {}
    for k, v in settings.items():
        if k == "groups" and isinstance(v, dict):
            children = v
        else:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for child, s in children.items():
        toml_group(lines, path + [child], s or {})


def render(name, defaults, groups):
    """A rein.toml from the module's arguments (rein checks it, with line and column)."""
    lines = [f"name = {toml_value(name)}"]
    if defaults:
        lines.append("")
        lines.append("[defaults]")
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in defaults.items())
    for g, s in groups.items():
        if not isinstance(s, dict) and s is not None:
            raise ValueError(f"group {g}: its limits must be a dict, not {s!r}")
        toml_group(lines, [g], s or {})
    return "\n".join(lines) + "\n"


def diff_text(d):
    """The before/after texts of Ansible's --diff: one line per interface file."""
    before, after = [], []
    for g in d.get("groups", []):
        if g.get("action") == "unchanged":
            continue
        if g.get("action") == "create":
            before.append(f"{g['group']}: (absent)")
        for f in g.get("files", []):
            old = f.get("old")
            before.append(f"{g['group']}/{f['file']}: {' '.join(old.split()) if old is not None else '(absent)'}")
            after.append(f"{g['group']}/{f['file']}: {f['new']}")
    for r in d.get("remove", []):
        before.append(f"{r['group']}: exists")
        after.append(f"{r['group']}: (removed)")
    return {"before": "\n".join(before) + "\n", "after": "\n".join(after) + "\n",
            "before_header": "cgroups now", "after_header": "cgroups after rein apply"}


class Rein:
    def __init__(self, module):
        self.m = module
        name = module.params["rein"]
        found = name if "/" in name else module.get_bin_path(name)
        if not found or not os.access(found, os.X_OK):
            module.fail_json(msg=f"cannot run rein: no executable '{name}' on the managed host "
                                 "(install the rein package, or give its path in 'rein')")
        self.bin = found

    def run(self, args, what):
        cmd = [self.bin] + args
        try:
            rc, out, err = self.m.run_command(cmd)
        except OSError as e:
            self.m.fail_json(msg=f"cannot run {self.bin}: {e} (install rein, or give its path in 'rein')", cmd=cmd)
        return rc, out, err, cmd

    def fail(self, what, rc, out, err, cmd):
        msg = err.strip() or out.strip() or f"exit status {rc}"
        result = {"msg": f"{what} failed: {msg}", "rc": rc, "stdout": out, "stderr": err, "cmd": cmd}
        try:
            j = json.loads(out)
        except ValueError:
            j = None
        if isinstance(j, dict) and j.get("errors"):
            # A file with mistakes: each with its place (rein --json lists them on stdout).
            result["errors"] = j["errors"]
            where = [f"{e.get('file')}:{e.get('line')}:{e.get('column')}: {e.get('message')}" for e in j["errors"]]
            result["msg"] = f"{what} failed: " + "; ".join(where)
        self.m.fail_json(**result)


def main():
    m = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path"),
            content=dict(type="str"),
            groups=dict(type="dict"),
            name=dict(type="str"),
            defaults=dict(type="dict"),
            parent=dict(type="str"),
            prune=dict(type="bool", default=False),
            kill=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            rein=dict(type="path", default="rein"),
        ),
        required_one_of=[("src", "content", "groups")],
        mutually_exclusive=[("src", "content", "groups")],
        required_by={"defaults": ("groups",)},
        supports_check_mode=True,
    )
    p = m.params
    if p["groups"] is not None and not p["name"]:
        m.fail_json(msg="'groups' needs 'name': the rein.toml name that marks the groups this task makes")
    rein = Rein(m)
    tmp = None
    try:
        if p["src"]:
            path = p["src"]
            if not os.path.exists(path):
                m.fail_json(msg=f"src {path}: no such file on the managed host")
        else:
            try:
                text = p["content"] if p["content"] is not None else render(p["name"], p["defaults"], p["groups"])
            except ValueError as e:
                m.fail_json(msg=str(e))
            fd, tmp = tempfile.mkstemp(prefix="rein-ansible-", suffix=".toml")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            path = tmp
        where = ["--parent", p["parent"]] if p["parent"] else []

        if p["state"] == "absent":
            rc, out, err, cmd = rein.run(["down", "--dry-run", "--json"] + where + [path], "rein down --dry-run")
            if rc != 0:
                rein.fail("rein down --dry-run", rc, out, err, cmd)
            plan = json.loads(out)
            removed = plan.get("removed", [])
            changed = bool(removed)
            result = {"changed": changed, "removed": removed, "kept": plan.get("kept", [])}
            if m._diff and changed:
                result["diff"] = {"before": "".join(f"{g}: exists\n" for g in map(str, removed)),
                                  "after": "".join(f"{g}: (removed)\n" for g in map(str, removed))}
            if changed and not m.check_mode:
                rc, out, err, cmd = rein.run(["down", "--json"] + (["--kill"] if p["kill"] else []) + where + [path], "rein down")
                if rc != 0:
                    rein.fail("rein down", rc, out, err, cmd)
            m.exit_json(**result)

        flags = (["--prune"] if p["prune"] else []) + where
        rc, out, err, cmd = rein.run(["diff", "--json"] + flags + [path], "rein diff")
        if rc != 0:
            rein.fail("rein diff", rc, out, err, cmd)
        d = json.loads(out)
        changed = bool(d.get("changed"))
        result = {"changed": changed, "diff_json": d}
        if m._diff and changed:
            result["diff"] = diff_text(d)
        if changed and not m.check_mode:
            rc, out, err, cmd = rein.run(["apply", "--json"] + flags + (["--kill"] if p["kill"] and p["prune"] else []) + [path], "rein apply")
            if rc != 0:
                rein.fail("rein apply", rc, out, err, cmd)
        m.exit_json(**result)
    finally:
        if tmp:
            os.unlink(tmp)


if __name__ == "__main__":
    main()
