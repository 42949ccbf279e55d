/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/pin_project_lite-ffb4603d108f7e19.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libpin_project_lite-ffb4603d108f7e19.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs

/work/main/target-old/x86_64-unknown-linux-gnu/release/deps/libpin_project_lite-ffb4603d108f7e19.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs:
