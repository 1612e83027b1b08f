# scripts/static.sh, sourced by scripts/install, scripts/test, scripts/bench, scripts/fleet/test,
# scripts/package/deb and scripts/vm/bench-systemd: static_cargo SUBCOMMAND ARGS... runs cargo
# for the target rein's shipped binary is built for, a static one. STATIC_TRIPLE is that
# target, STATIC_DIR the directory its artifacts go to (target/TRIPLE/{debug,release}).
#
# The target, in order of preference:
#   1. REIN_STATIC_TARGET if set (any installed target; `x86_64-unknown-linux-gnu` forces the
#      glibc build below);
#   2. this machine's musl target (x86_64-unknown-linux-musl on an x86_64 glibc host), added
#      with `rustup target add` when rustup can (once; quiet); musl targets are static;
#   3. this machine's own target with the C library linked statically (`+crt-static`).
#
# Why static: `rein run` and `rein exec` are mostly start-up, and a static rein starts ~0.7 ms
# sooner (no dynamic loader, no shared libraries to map and relocate). Why musl first: glibc's
# start-up asks the CPU for its features and cache sizes with CPUID (dozens of times), which a
# hypervisor traps: ~0.3 ms per start on a virtual machine, nearly half of rein's own user
# time in a `rein exec`. musl does not; rein brings its own allocator there (dlmalloc, see
# crates/rein-cli/src/main.rs) and its own strerror words (rein::errno), so both builds
# behave and print the same. docs/BENCHMARKS.md has the figures.
# Why --target: the flag must not reach proc macros (they are shared objects, which a static
# C library cannot make), and with --target cargo gives target flags to the target alone.
HOST_TRIPLE=$(rustc -vV | sed -n 's/^host: //p')

static_triple() {
  if [[ -n ${REIN_STATIC_TARGET:-} ]]; then
    echo "$REIN_STATIC_TARGET"
    return
  fi
  local musl=${HOST_TRIPLE/%-linux-gnu/-linux-musl}
  # A failed `rustup target add` is remembered for a day (every script sources this file).
  local failed=target/.static-musl-failed
  if [[ $musl != "$HOST_TRIPLE" ]] && command -v rustup >/dev/null; then
    if rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
      echo "$musl"
      return
    fi
    if [[ -z $(find "$failed" -mmin -1440 2>/dev/null) ]]; then
      if timeout 300 rustup target add "$musl" >/dev/null 2>&1; then
        echo "$musl"
        return
      fi
      mkdir -p target && touch "$failed"
      echo "scripts/static.sh: cannot add the $musl target (rustup target add $musl); building for $HOST_TRIPLE with glibc linked statically" >&2
    fi
  fi
  echo "$HOST_TRIPLE"
}

STATIC_TRIPLE=$(static_triple)
STATIC_DIR=target/$STATIC_TRIPLE

static_cargo() {
  local sub=$1 var flags=
  shift
  var="CARGO_TARGET_$(tr 'a-z.-' 'A-Z__' <<<"$STATIC_TRIPLE")_RUSTFLAGS"
  [[ $STATIC_TRIPLE == *-linux-gnu* ]] && flags="-C target-feature=+crt-static"
  env "$var=${!var:-} $flags" cargo "$sub" --target "$STATIC_TRIPLE" "$@"
}
