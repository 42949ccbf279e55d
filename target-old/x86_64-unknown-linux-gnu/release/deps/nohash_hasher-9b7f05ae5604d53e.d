/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/nohash_hasher-9b7f05ae5604d53e.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/nohash-hasher-0.2.0/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libnohash_hasher-9b7f05ae5604d53e.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/nohash-hasher-0.2.0/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libnohash_hasher-9b7f05ae5604d53e.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/nohash-hasher-0.2.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/nohash-hasher-0.2.0/src/lib.rs:
