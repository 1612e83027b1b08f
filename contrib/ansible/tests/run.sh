#!/usr/bin/env bash
# contrib/ansible/tests/run.sh: the rein.cgroups.apply module against localhost, for real
# (root: it makes cgroups). Needs ansible-playbook on PATH (scripts/fleet/test makes a venv
# with ansible-core from PyPI) and REIN, the rein binary. Every group goes beneath a
# parent of its own (rein-test-ansible-PID), removed at the end whatever happened.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
: "${REIN:?REIN must name the rein binary}"
parent=rein-test-ansible-$$
cleanup() {
  "$REIN" rm --recursive --kill "$parent" >/dev/null 2>&1 || true
  rm -f "/tmp/rein-ansible-$parent.toml"   # playbook.yml's file, when it stopped early
}
trap cleanup EXIT
python=$(command -v python3)
export ANSIBLE_COLLECTIONS_PATH=$PWD/.. ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
  ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false \
  ANSIBLE_PYTHON_INTERPRETER=$python
# The module's documentation parses (ansible-doc reads DOCUMENTATION, EXAMPLES, RETURN).
doc=$(ansible-doc rein.cgroups.apply)
grep -q 'rein diff --json' <<<"$doc"
ansible-playbook -i localhost, -c local playbook.yml -e "rein=$REIN parent=$parent"
# In check mode with --diff, on the applied state: nothing to do.
ansible-playbook -i localhost, -c local check.yml --check --diff -e "rein=$REIN parent=$parent"
ansible-playbook -i localhost, -c local absent.yml -e "rein=$REIN parent=$parent"
# Nothing left: the playbook's last task removed every group it made.
if "$REIN" ls "$parent" 2>/dev/null | grep -q web; then
  echo "groups left under $parent:"; "$REIN" ls "$parent"; exit 1
fi
echo "ansible module: ok"
