/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/sole_pidfile-723996a4e65bdd0a.d: crates/pidfile/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_pidfile-723996a4e65bdd0a.rlib: crates/pidfile/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_pidfile-723996a4e65bdd0a.rmeta: crates/pidfile/src/lib.rs

crates/pidfile/src/lib.rs:
