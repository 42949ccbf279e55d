/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/futures_io-c832a4ad6b3a302a.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-io-0.3.34/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libfutures_io-c832a4ad6b3a302a.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-io-0.3.34/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libfutures_io-c832a4ad6b3a302a.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-io-0.3.34/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/futures-io-0.3.34/src/lib.rs:
