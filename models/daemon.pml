/*
 * daemon.pml: spawnDaemon's start protocol (model 3 of issue 15).
 *
 * Protocol. The caller prepares (opens the pidfile, the error pipe, the status pipe and the
 * private notify socket), forks the intermediate process and closes its own copies; the
 * intermediate forks the daemon, writes `P` (the daemon's pid) on the status pipe, closes its
 * copies of the error pipe and the pidfile, waits for the daemon's end with WNOWAIT and writes
 * `S`; the daemon claims the pidfile itself (non-blocking flock on the descriptor it inherited,
 * `PID\n`, fsync), drops privileges, execs. A failure before exec is one code byte on the
 * close-on-exec error pipe (71 setup, 77 privileges, 75 held, 126 exec) and an exit; end of
 * file with nothing written means the exec happened. The program then sends READY=1 (or
 * ERRNO=) over the notify socket. The caller loops: status pipe first, then error pipe, then
 * the notify socket; decides; else polls. A timeout or abort (the `stop`) kills the unready
 * daemon through its pidfd and waits for its `S`. At the end the caller SIGKILLs and reaps the
 * intermediate process. Readiness is 'notify' (the default).
 *
 * Participants (NPROC, default 4): the caller, the intermediate and the daemon of one start, and
 * a second spawnDaemon on the same pidfile, at any moment before, during or after the first
 * (reduced to its daemon's claim: the same flock on the same file; a refused claim is its
 * EHELD), so "at most one daemon holds the pidfile" is exercised. NPROC 3 leaves the second
 * out. The environment (Env) may kill any process at any step (MAXCRASH kills, default NPROC:
 * every process may die; the kernel then closes its descriptors, which drops a flock once the
 * last descriptor of its open file description is closed, and ends its pipe write ends) and
 * fires the caller's stop (timeout or abort) at any moment; the stop always fires eventually,
 * as timeoutMs always exists. A caller's death kills its intermediate (PR_SET_PDEATHSIG), not
 * the daemon.
 *
 * Properties (assertions; invalid end states are checked too):
 *  - at most one live daemon has its pidfile claim (checked at each claim);
 *  - a daemon that sends READY=1 holds the pidfile and the pidfile names it;
 *  - the caller resolves only after the daemon itself sent READY=1 after its exec while it held
 *    the pidfile, and it has not read the daemon's exit (a daemon known to be dead is a
 *    startup failure even after READY=1);
 *  - each rejection's stage matches what happened: EHELD only when the daemon's flock was
 *    refused; setup only for a reported setup or privilege failure, or an intermediate that
 *    died before it reported the daemon's pid; exec only for a failed execve; startup only when
 *    the daemon sent ERRNO= or died without a report and before sending READY=1; ETIMEDOUT only
 *    after the stop;
 *  - a rejected start leaves no daemon running (dead, or SIGKILLed through its pidfd), except
 *    when the caller never learned its pid: the intermediate died before writing `P` (an
 *    ERRNO= read before `P` waits for it: wait.rs#await_pid);
 *  - nobody waits forever: no caller or intermediate is left blocked (only a daemon serving, or
 *    one that never reports, may wait forever: `end_` labels).
 *
 * Abstracted away (plainly): one pid per incarnation, no pid reuse (a pidfd and a pid name the
 * same process; R37's recycled-pid case is argued in the code, not modelled); the pidfile's
 * content is one value (which daemon it names), written with its fsync in one step, and nobody
 * reads it here; its path always names the same inode (no rename or unlink: the claim's ESTALE
 * check never fires); the second spawnDaemon is one process (its own pipes and readiness are
 * those of the first, not repeated); the two starts come from different processes (no
 * descriptor of one leaks into the other's children, as it can for two starts from one Node
 * process); each pipe message is one atomic write; which setup step fails is not modelled (one
 * setup failure point in the intermediate, one in the daemon after its claim; codes 71 and 77
 * are one value, both stage setup); an exit and a kill are one "died" event (no exit codes, no
 * signals); STATUS= and the stderr tail are not modelled; readiness 'exec' and 'none' are not
 * modelled; async-signal safety between fork and exec (R33, R34) and descriptor hygiene (R38)
 * are not modelled.
 *
 * Races covered: R35 (the pidfile claimed by the daemon itself, before exec), R36 (exec EOF vs
 * readiness, the intermediate's report of an early death, the status pipe read before the error
 * pipe), R37 (the unready daemon killed and its death awaited before a rejection settles; no pid
 * reuse modelled).
 *
 * Mutants: MUTANT_EXEC_EOF_READY (the caller resolves at the error pipe's EOF: the classic
 * double-fork "exec succeeded" without readiness), MUTANT_PARENT_PIDFILE (the intermediate
 * claims the pidfile for the daemon's pid on its own descriptor; the daemon claims nothing).
 */

#ifndef NPROC
#define NPROC 4      /* 4: the caller, the intermediate, the daemon and a second spawnDaemon; 3: no second */
#endif
#ifndef MAXCRASH
#define MAXCRASH NPROC   /* kills by the environment per run: every process may die (the caller's
                            pidfd kill and its kill of the intermediate are not counted) */
#endif

/* The error pipe's code byte. */
#define E_SETUP 1   /* 71 setup, or 77 privileges: both stage 'setup' */
#define E_HELD  3   /* 75 */
#define E_EXEC  4   /* 126 */

/* The caller's outcome. */
#define O_RESOLVED 1
#define O_EHELD    2
#define O_SETUP    3
#define O_EXEC     4
#define O_STARTUP  5
#define O_TIMEOUT  6

/* What the caller's decision step chose. */
#define R_POLL     0
#define R_REPORT   1
#define R_ERRNO    2
#define R_STARTUP  3
#define R_RESOLVE  4
#define R_NOPID    5
#define R_STOPPED  6

/* The pidfile: who holds its flock (0 free; 1 the start's open file description, shared by the
 * caller's, the intermediate's and the daemon's descriptors; 2 the second spawnDaemon's daemon;
 * 3 MUTANT_PARENT_PIDFILE's intermediate, on a description of its own) and the pid line (0
 * empty, 1 the daemon, 2 the second's daemon). */
byte pf_lock;
byte pf_content;
byte pf_refs;               /* descriptors open on the start's description */

/* The pipes (write ends counted) and the notify socket. */
byte err_msg;               /* the one report written, 0 none */
byte err_w;
bit  st_P;
bit  st_S;
byte st_w;
bit  ready_q;               /* a READY=1 datagram sent (from the daemon's uid) */
bit  errno_q;               /* an ERRNO= datagram sent */
bit  stop;                  /* the caller's timeout or abort fired */

/* Processes, and the environment's kills. */
bit c_alive, i_alive, d_alive, sec_alive;
bit kc, ki, kd, ksec;
byte crashes;

/* Ghosts: what really happened. */
bit  d_dead;
bit  claimed;               /* the start's claim of the pidfile succeeded */
bit  sec_claimed;
bit  ready_sent;
bit  errno_sent;
bit  inter_early;           /* the intermediate died before it wrote P */
byte outcome;

/* The kernel closes one descriptor of the start's pidfile description; the last one drops the flock. */
#define CLOSE_PF \
	pf_refs--; \
	if \
	:: pf_refs == 0 && pf_lock == 1 -> pf_lock = 0 \
	:: else -> skip \
	fi

/* A rejection: its stage must match what happened, and no daemon is left running; but for
 * the case where the caller never learned the daemon's pid: an intermediate killed before it
 * wrote P. */
#define REJECT(o, why) \
	d_step { \
		assert(why); \
		assert(!d_alive || kd || inter_early); \
		outcome = o \
	}

/* Something the caller's poll(2) would wake for (wait.rs#poll). */
#define STATUS_CHANGED ((st_P && !c_pid) || (st_S && !c_exit) || st_w == 0)
#define WAKE \
	( (!c_st_eof && STATUS_CHANGED) \
	|| (!c_err_eof && (err_msg != c_err || err_w == 0)) \
	|| (ready_q && !c_ready) || (errno_q && !c_errno) \
	|| stop \
	|| (c_err_eof && c_pid && !c_exit && !d_alive) )

/* Drain the status pipe and parse P / S (the pidfd is opened on P and dropped on S). */
#define DRAIN_STATUS \
	c_pid = c_pid | st_P; \
	c_exit = c_exit | st_S; \
	c_st_eof = (st_w == 0)

/* The daemon's exit or death: the kernel's part. */
#define DAEMON_GONE \
	if \
	:: !execd -> err_w--; st_w-- \
	:: else -> skip \
	fi; \
	CLOSE_PF; \
	d_alive = 0; \
	d_dead = 1

proctype Daemon()
{
	bit execd;
	{
		/* umask, stdio: code: crates/daemon/src/spawn/child.rs#daemon */
#ifndef MUTANT_PARENT_PIDFILE
		/* exclusive non-blocking flock on the inherited descriptor:
		 * code: crates/daemon/src/spawn/child.rs#claim */
		atomic {
			if
			:: pf_lock == 0 ->
				pf_lock = 1;
				claimed = 1;
				assert(!(sec_claimed && sec_alive))   /* at most one daemon holds the pidfile */
			:: else ->
				/* code: crates/daemon/src/spawn/child.rs#fail (75) */
				err_msg = E_HELD
			fi
		}
		if
		:: err_msg == E_HELD -> goto died
		:: else -> pf_content = 1   /* `PID\n`, the record, fsync */
		fi;
#endif
		if
		:: err_msg = E_SETUP; goto died   /* code: crates/daemon/src/spawn/child.rs#drop_privileges (77), chdir (71) */
		:: skip
		fi;
		/* code: crates/daemon/src/spawn/sys.rs#execve */
		if
		:: err_msg = E_EXEC; goto died    /* code: crates/daemon/src/spawn/child.rs#fail (126) */
		:: atomic { err_w--; st_w--; execd = 1 }   /* the pipes' write ends are close-on-exec */
		fi;
		/* The program: code: crates/daemon/src/notify.rs#notify */
		if
		:: atomic {
			assert((pf_lock == 1 || pf_lock == 3) && pf_content == 1);
			ready_q = 1;
			ready_sent = 1
		   }
		:: atomic { errno_q = 1; errno_sent = 1 }
		:: skip   /* never reports anything */
		fi;
end_serving:
		(false);
died:
		/* exit(code) after the report */
		atomic { DAEMON_GONE }
	} unless {
		atomic { kd -> DAEMON_GONE }
	}
}

/* The intermediate's end: its copies closed by the kernel. */
#ifdef MUTANT_PARENT_PIDFILE
#define INTER_OWN_LOCK if :: pf_lock == 3 -> pf_lock = 0 :: else -> skip fi
#else
#define INTER_OWN_LOCK skip
#endif
#define INTER_GONE \
	if \
	:: !closed -> err_w--; CLOSE_PF \
	:: else -> skip \
	fi; \
	st_w--; \
	INTER_OWN_LOCK; \
	i_alive = 0

proctype Inter()
{
	bit closed;
	{
		/* PR_SET_PDEATHSIG, close_others, /dev/null, setsid:
		 * code: crates/daemon/src/spawn/child.rs#intermediate
		 * code: crates/daemon/src/spawn/child.rs#close_others */
		if
		:: err_msg = E_SETUP; goto done   /* code: crates/daemon/src/spawn/child.rs#fail (71) */
		:: skip
		fi;
		/* code: crates/daemon/src/spawn/sys.rs#fork */
		atomic {
			d_alive = 1;
			pf_refs++; err_w++; st_w++;
			run Daemon()
		}
#ifdef MUTANT_PARENT_PIDFILE
		/* BROKEN: the intermediate claims the pidfile for the daemon's pid, on a descriptor of
		 * its own; it reports EHELD (and kills the daemon) when it is held. */
		atomic {
			if
			:: pf_lock == 0 ->
				pf_lock = 3; pf_content = 1;
				claimed = 1;
				assert(!(sec_claimed && sec_alive))
			:: else ->
				err_msg = E_HELD;
				kd = 1
			fi
		}
		if
		:: err_msg == E_HELD -> goto done
		:: else -> skip
		fi;
#endif
		st_P = 1;
		/* its copies of the error pipe and the pidfile closed */
		atomic { err_w--; CLOSE_PF; closed = 1 }
		/* waitid(WEXITED | WNOWAIT) */
		(d_dead);
		st_S = 1;
done:
		atomic { INTER_GONE }
	} unless {
		atomic { ki -> inter_early = !st_P; INTER_GONE }
	}
}

proctype Caller()
{
	bit c_pid, c_exit, c_st_eof, c_err_eof, c_ready, c_errno;
	byte c_err, res, stage;
	{
		/* code: lib/spawn.ts#spawnDaemon
		 * code: crates/daemon/src/spawn/prepare.rs#prepare
		 * code: crates/daemon/src/spawn/prepare.rs#open_pidfile
		 * code: crates/daemon/src/receiver.rs#new */
		atomic { pf_refs++; err_w = 1; st_w = 1; stage = 1 }
		/* fork with every signal blocked: code: crates/daemon/src/spawn/wait.rs#run */
		atomic {
			i_alive = 1;
			pf_refs++; err_w++; st_w++;
			stage = 2;
			run Inter()
		}
		/* drop(plan): the caller's copies closed at once */
		atomic { CLOSE_PF; err_w--; st_w--; stage = 3 }

		/* code: crates/daemon/src/spawn/wait.rs#wait */
		do
		:: /* read_all: the status pipe first
		    * code: crates/daemon/src/spawn/wait.rs#read_all
		    * code: crates/daemon/src/spawn/wait.rs#drain
		    * code: crates/daemon/src/spawn/wait.rs#parse_status */
			atomic { if :: !c_st_eof -> DRAIN_STATUS :: else -> skip fi }
			/* then the error pipe */
			atomic { if :: !c_err_eof -> c_err = err_msg; c_err_eof = (err_w == 0) :: else -> skip fi }
			/* then the notify socket: code: crates/daemon/src/receiver.rs#drain */
			atomic { c_ready = c_ready | ready_q; c_errno = c_errno | errno_q }
			/* decide, in the order of wait.rs#wait */
			d_step {
				if
				:: c_err_eof && c_err != 0 -> res = R_REPORT
				:: else ->
					if
					:: c_errno -> res = R_ERRNO
					:: else ->
						if
						:: c_exit && c_err != 0 -> res = R_REPORT
						:: c_exit && c_err == 0 -> res = R_STARTUP	/* dead, even after READY=1: code: crates/daemon/src/spawn/wait.rs#death */
						:: else ->
							if
#ifdef MUTANT_EXEC_EOF_READY
							/* BROKEN: "end of file with nothing written: it is running" */
							:: c_pid && c_err_eof && c_err == 0 -> res = R_RESOLVE
#else
							:: c_pid && c_ready -> res = R_RESOLVE
#endif
							:: else ->
								if
								:: !c_pid && c_st_eof -> res = R_NOPID
								:: else ->
									if
									:: stop -> res = R_STOPPED
									:: else -> res = R_POLL
									fi
								fi
							fi
						fi
					fi
				fi
			}
			if
			:: res == R_POLL ->
				/* code: crates/daemon/src/spawn/wait.rs#poll */
				WAKE
			:: res == R_RESOLVE ->
				d_step {
					assert(c_pid && ready_sent && !c_exit);
					outcome = O_RESOLVED
				}
				break
			:: res == R_REPORT ->
				/* code: crates/daemon/src/spawn/wait.rs#report */
				if
				:: c_err == E_HELD -> REJECT(O_EHELD, err_msg == E_HELD)
				:: c_err == E_EXEC -> REJECT(O_EXEC, err_msg == E_EXEC)
				:: c_err == E_SETUP -> REJECT(O_SETUP, err_msg == E_SETUP)
				fi;
				break
			:: res == R_STARTUP ->
				/* code: crates/daemon/src/spawn/wait.rs#startup_error */
				REJECT(O_STARTUP, err_msg == 0 && d_dead);
				break
			:: res == R_NOPID ->
				REJECT(O_SETUP, inter_early || err_msg == E_SETUP);
				break
			:: res == R_ERRNO || res == R_STOPPED ->
				/* first the pid (or the pipe's end), for a stop and for ERRNO= alike
				 * code: crates/daemon/src/spawn/wait.rs#stopped
				 * code: crates/daemon/src/spawn/wait.rs#await_pid */
				do
				:: c_pid || c_st_eof -> break
				:: else -> atomic { STATUS_CHANGED -> DRAIN_STATUS }
				od;
				/* code: crates/daemon/src/spawn/wait.rs#kill_and_wait: SIGKILL through the pidfd,
				 * then wait for S (or the pipe's end) */
				atomic {
					if
					:: c_pid && !c_exit && d_alive && !kd -> kd = 1
					:: else -> skip
					fi
				}
				do
				:: c_pid && !c_exit && !c_st_eof -> atomic { STATUS_CHANGED -> DRAIN_STATUS }
				:: else -> break
				od;
				if
				:: res == R_STOPPED -> REJECT(O_TIMEOUT, stop)
				:: else -> REJECT(O_STARTUP, errno_sent && err_msg == 0)
				fi;
				break
			fi
		od;
		/* The intermediate process SIGKILLed and reaped: code: crates/daemon/src/spawn/wait.rs#run */
		atomic { if :: i_alive && !ki -> ki = 1 :: else -> skip fi }
		(!i_alive);
		c_alive = 0
	} unless {
		atomic {
			kc ->
			if
			:: stage == 1 || stage == 2 -> CLOSE_PF; err_w--; st_w--
			:: else -> skip
			fi;
			/* PR_SET_PDEATHSIG: the intermediate dies with the caller */
			if :: i_alive && !ki -> ki = 1 :: else -> skip fi;
			c_alive = 0
		}
	}
}

/* A second spawnDaemon on the same pidfile, at any moment (before, during or after the first),
 * reduced to its daemon's claim (its own caller and intermediate are the same protocol as
 * above): its daemon claims the pidfile with the same flock, or its start is refused EHELD. */
proctype Second()
{
	bit held;
	{
		/* code: crates/daemon/src/spawn/child.rs#claim */
		atomic {
			if
			:: pf_lock == 0 ->
				pf_lock = 2;
				sec_claimed = 1;
				assert(!(claimed && d_alive))   /* at most one daemon holds the pidfile */
			:: else -> held = 1
			fi
		}
		if
		:: held -> goto gone   /* its caller rejects EHELD */
		:: else -> pf_content = 2
		fi;
end_serving:
		(false);
gone:
		sec_alive = 0
	} unless {
		atomic { ksec -> if :: pf_lock == 2 -> pf_lock = 0 :: else -> skip fi; sec_alive = 0 }
	}
}

/* The environment: kills any process at any step (up to MAXCRASH), fires the caller's timeout
 * or abort at any moment (always, eventually). */
active proctype Env()
{
	do
	:: atomic { crashes < MAXCRASH && c_alive && !kc -> kc = 1; crashes++ }
	:: atomic { crashes < MAXCRASH && i_alive && !ki -> ki = 1; crashes++ }
	:: atomic { crashes < MAXCRASH && d_alive && !kd -> kd = 1; crashes++ }
	:: atomic { crashes < MAXCRASH && sec_alive && !ksec -> ksec = 1; crashes++ }
	:: atomic { !stop -> stop = 1 }   /* code: crates/daemon/src/spawn/mod.rs#stop */
	:: stop -> break
	od
}

init
{
	atomic {
		c_alive = 1;
		run Caller();
#if NPROC > 3
		sec_alive = 1;
		run Second()
#endif
	}
}
