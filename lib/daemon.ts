/**
 * The daemon's own side (`notify`, `daemonReady`, `watchdogIntervalMs`) and the operator's
 * side (`stopDaemon`, `daemonStatus`) of sole's daemons. (being written)
 */
export {}
