# scripts/static.sh, sourced by scripts/install, scripts/test and scripts/vm/bench-systemd:
# static_cargo SUBCOMMAND ARGS... runs cargo for this host's target with the C library
# linked statically (glibc hosts; musl targets are static already). STATIC_DIR is the
# directory its artifacts go to (target/TRIPLE/{debug,release}).
#
# Why: `rein run` and `rein exec` are mostly start-up, and a static rein starts ~0.7 ms
# sooner (no dynamic loader, no shared libraries to map and relocate; docs/BENCHMARKS.md).
# Why --target: the flag must not reach proc macros (they are shared objects, which a
# static C library cannot make), and with --target cargo gives target flags to the target
# alone.
HOST_TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
STATIC_DIR=target/$HOST_TRIPLE

static_cargo() {
  local sub=$1 var flags=
  shift
  var="CARGO_TARGET_$(tr 'a-z.-' 'A-Z__' <<<"$HOST_TRIPLE")_RUSTFLAGS"
  [[ $HOST_TRIPLE == *-linux-gnu* ]] && flags="-C target-feature=+crt-static"
  env "$var=${!var:-} $flags" cargo "$sub" --target "$HOST_TRIPLE" "$@"
}
