//! Binding of the daemon's own side and of the operator's side of `sole-daemon`: `notify`,
//! `daemonReady`, `watchdogIntervalMs`, `daemonStatus`, `stopDaemon`'s native parts.
//! (being written)
