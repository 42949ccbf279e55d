/**
 * `spawnDaemon`: start a real daemon and wait until it is ready. (being written)
 */
export {}
