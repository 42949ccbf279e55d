/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/sole_scope-21f1857f9321dd28.d: crates/scope/src/lib.rs crates/scope/src/json.rs crates/scope/src/rule.rs crates/scope/src/store.rs crates/scope/src/table.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_scope-21f1857f9321dd28.rlib: crates/scope/src/lib.rs crates/scope/src/json.rs crates/scope/src/rule.rs crates/scope/src/store.rs crates/scope/src/table.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libsole_scope-21f1857f9321dd28.rmeta: crates/scope/src/lib.rs crates/scope/src/json.rs crates/scope/src/rule.rs crates/scope/src/store.rs crates/scope/src/table.rs

crates/scope/src/lib.rs:
crates/scope/src/json.rs:
crates/scope/src/rule.rs:
crates/scope/src/store.rs:
crates/scope/src/table.rs:
