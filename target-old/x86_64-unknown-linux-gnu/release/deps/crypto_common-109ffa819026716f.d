/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/crypto_common-109ffa819026716f.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crypto-common-0.1.7/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libcrypto_common-109ffa819026716f.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crypto-common-0.1.7/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libcrypto_common-109ffa819026716f.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crypto-common-0.1.7/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crypto-common-0.1.7/src/lib.rs:
