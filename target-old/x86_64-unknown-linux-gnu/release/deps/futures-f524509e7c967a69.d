/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/futures-f524509e7c967a69.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-0.3.34/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libfutures-f524509e7c967a69.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-0.3.34/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libfutures-f524509e7c967a69.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-0.3.34/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-0.3.34/src/lib.rs:
