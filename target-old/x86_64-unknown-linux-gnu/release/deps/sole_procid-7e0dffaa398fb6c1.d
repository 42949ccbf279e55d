/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/sole_procid-7e0dffaa398fb6c1.d: crates/procid/src/lib.rs crates/procid/src/handle.rs crates/procid/src/hash.rs crates/procid/src/identity.rs crates/procid/src/pid.rs crates/procid/src/verify.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_procid-7e0dffaa398fb6c1.rlib: crates/procid/src/lib.rs crates/procid/src/handle.rs crates/procid/src/hash.rs crates/procid/src/identity.rs crates/procid/src/pid.rs crates/procid/src/verify.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_procid-7e0dffaa398fb6c1.rmeta: crates/procid/src/lib.rs crates/procid/src/handle.rs crates/procid/src/hash.rs crates/procid/src/identity.rs crates/procid/src/pid.rs crates/procid/src/verify.rs

crates/procid/src/lib.rs:
crates/procid/src/handle.rs:
crates/procid/src/hash.rs:
crates/procid/src/identity.rs:
crates/procid/src/pid.rs:
crates/procid/src/verify.rs:
