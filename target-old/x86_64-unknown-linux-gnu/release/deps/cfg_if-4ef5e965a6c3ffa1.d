/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/cfg_if-4ef5e965a6c3ffa1.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libcfg_if-4ef5e965a6c3ffa1.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libcfg_if-4ef5e965a6c3ffa1.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.5/src/lib.rs:
