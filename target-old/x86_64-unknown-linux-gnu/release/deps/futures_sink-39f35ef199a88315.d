/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/futures_sink-39f35ef199a88315.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-sink-0.3.34/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libfutures_sink-39f35ef199a88315.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-sink-0.3.34/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libfutures_sink-39f35ef199a88315.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-sink-0.3.34/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-sink-0.3.34/src/lib.rs:
