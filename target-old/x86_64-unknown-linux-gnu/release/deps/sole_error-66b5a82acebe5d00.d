/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/sole_error-66b5a82acebe5d00.d: crates/error/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_error-66b5a82acebe5d00.rlib: crates/error/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_error-66b5a82acebe5d00.rmeta: crates/error/src/lib.rs

crates/error/src/lib.rs:
