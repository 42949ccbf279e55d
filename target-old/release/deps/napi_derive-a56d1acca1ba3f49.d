/work/main/target-old/release/deps/napi_derive-a56d1acca1ba3f49.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/typedef.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/typedef/type_def.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/napi.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/parser/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/parser/attrs.rs

/work/main/target-old/release/deps/libnapi_derive-a56d1acca1ba3f49.so: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/typedef.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/typedef/type_def.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/napi.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/parser/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/parser/attrs.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/typedef.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/typedef/type_def.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/expand/napi.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/parser/mod.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-derive-3.7.0/src/parser/attrs.rs:
