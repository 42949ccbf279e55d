/work/main/target-old/release/deps/convert_case-18db7f2bec46c676.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/boundary.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/case.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/converter.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/pattern.rs

/work/main/target-old/release/deps/libconvert_case-18db7f2bec46c676.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/boundary.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/case.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/converter.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/pattern.rs

/work/main/target-old/release/deps/libconvert_case-18db7f2bec46c676.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/boundary.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/case.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/converter.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/pattern.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/boundary.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/case.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/converter.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/convert_case-0.12.0/src/pattern.rs:
