/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/sole.d: src/lib.rs src/procid.rs src/scope.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole.so: src/lib.rs src/procid.rs src/scope.rs

src/lib.rs:
src/procid.rs:
src/scope.rs:

# env-dep:CARGO_PKG_NAME=sole
# env-dep:CARGO_PKG_VERSION=0.1.0
