/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/napi_sys-4996a2f789f36575.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/functions.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/types.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libnapi_sys-4996a2f789f36575.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/functions.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/types.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libnapi_sys-4996a2f789f36575.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/functions.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/types.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/functions.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-sys-3.4.1/src/types.rs:
