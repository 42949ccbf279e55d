//! Binding of `sole_daemon::spawn`: `spawnDaemon`'s options and the wait for readiness.
//! (being written)
