/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/sole_lock-3704f252969eb2f8.d: crates/lock/src/lib.rs crates/lock/src/error.rs crates/lock/src/handle.rs crates/lock/src/holder.rs crates/lock/src/open.rs crates/lock/src/registry.rs crates/lock/src/wait.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_lock-3704f252969eb2f8.rlib: crates/lock/src/lib.rs crates/lock/src/error.rs crates/lock/src/handle.rs crates/lock/src/holder.rs crates/lock/src/open.rs crates/lock/src/registry.rs crates/lock/src/wait.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_lock-3704f252969eb2f8.rmeta: crates/lock/src/lib.rs crates/lock/src/error.rs crates/lock/src/handle.rs crates/lock/src/holder.rs crates/lock/src/open.rs crates/lock/src/registry.rs crates/lock/src/wait.rs

crates/lock/src/lib.rs:
crates/lock/src/error.rs:
crates/lock/src/handle.rs:
crates/lock/src/holder.rs:
crates/lock/src/open.rs:
crates/lock/src/registry.rs:
crates/lock/src/wait.rs:
