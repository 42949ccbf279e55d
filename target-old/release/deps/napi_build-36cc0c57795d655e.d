/work/main/target-old/release/deps/napi_build-36cc0c57795d655e.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/android.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/windows.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi_heap_sync_exports.o

/work/main/target-old/release/deps/libnapi_build-36cc0c57795d655e.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/android.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/windows.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi_heap_sync_exports.o

/work/main/target-old/release/deps/libnapi_build-36cc0c57795d655e.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/android.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/windows.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi_heap_sync_exports.o

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/android.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/windows.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/napi-build-2.6.0/src/wasi_heap_sync_exports.o:
