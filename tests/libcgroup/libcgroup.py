"""The two enums libcgroup's functional tests import from libcgroup's Python
bindings (tests/libcgroup/tier puts this directory on PYTHONPATH).

The bindings are a Cython module built against libcgroup; the selected tests only
compare these constants, so rein's tier provides them here with the values of
libcgroup's include/libcgroup/groups.h (enum cg_version_t, enum cg_setup_mode_t).
Cgroup exists because several test files import it; the selected tests use only its
is_systemd_enabled() (the pybindings tests, which use the rest, are not selected: see
docs/TESTING.md).
"""


class Version:
    CGROUP_UNK = 0
    CGROUP_V1 = 1
    CGROUP_V2 = 2
    CGROUP_DISK = 0xFF


class Mode:
    CGROUP_MODE_UNK = 0
    CGROUP_MODE_LEGACY = 1
    CGROUP_MODE_HYBRID = 2
    CGROUP_MODE_UNIFIED = 3


class Cgroup:
    @staticmethod
    def is_systemd_enabled():
        # Both tool sets take libcgroup 3's systemd options: real libcgroup is built
        # with --enable-systemd, rein makes scopes through its systemd driver.
        return True

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "libcgroup's Python bindings are not built by rein's libcgroup tier; "
            'this test needs them and is not selected (see docs/TESTING.md)')
