/*
 * instance.pml: the single-instance handoff (model 4 of issue 15).
 *
 * Protocol. The role is a flock lock on <dir>/<name>.lock; the socket <dir>/<name>.sock is only
 * the channel. Each launch loops until its deadline: tryLock -> primary (remove a leftover
 * socket file while holding the lock, listen, serve); else deliver one frame over the socket:
 * replied (done: answered, or the primary's error frame such as ECANCELED); nobody listening
 * (ENOENT / ECONNREFUSED) or the connection cut before the reply (Gone): wait on the lock for
 * up to 25 ms (acquired: primary), then (deadline not passed) try again. The primary hands each
 * message to its listener and writes the reply; release() closes the server, answers ECANCELED
 * to messages its listener has seen and not answered, destroys the other connections, removes
 * the socket file (lock still held), then releases the lock.
 *
 * Participants: NPROC launches (default 4), all running the same code; whichever locks first
 * is primary, a released or dead primary's role passes on to a later launch. The environment
 * (Env) kills any launch at any step (MAXCRASH kills, default NPROC: every launch may die): the
 * kernel drops its lock, closes its listening socket and connections (the socket FILE stays),
 * and a reply it already wrote stays readable by its peer.
 *
 * Properties (assertions; invalid end states are checked too):
 *  - at most one primary at any time (checked each time a launch becomes primary);
 *  - a launch that is answered was delivered: its message was handed to a primary's listener,
 *    and the reply is that primary's (answered only by a primary that handled it);
 *  - ECANCELED only for a message a primary's listener saw, from a primary that released;
 *  - ETIMEDOUT only while a live primary holds the role (the error names it: the launch
 *    waited on a primary that did not answer in time, or was not listening yet);
 *  - every launch ends exactly one way: primary, answered, ECANCELED, or ETIMEDOUT; never
 *    primary and answered both;
 *  - nobody waits forever: a launch blocked anywhere but a primary's serving loop (`end_`) is
 *    an invalid end state.
 * Delivery is at least once, not exactly once: a primary killed after its listener saw a
 * message and before its reply left cuts the connection (Gone) exactly as a primary killed
 * before reading it; the sender cannot tell them apart, so it delivers again to the next
 * primary (or becomes primary). Define STRICT_ONCE for the counterexample to "exactly once".
 *
 * Abstracted away (plainly): one message per launch (its argv, cwd and data are one value);
 * frames, lengths, JSON, peer credentials and message sizes are not modelled (R41, R42); the
 * primary's listener is attached from the start (no queueing before a listener) and answers
 * (no hung or throwing handler, no EHANDLER); the deadline is a nondeterministic choice made
 * after each failed 25 ms wait on the lock or while a reply is awaited (time is not
 * modelled); the primary serves connections in launch order, one step to hand a message to
 * its listener and one to write its reply; a dead sender's unread message is dropped with its
 * connection; connect, a full listen queue and its 5 ms retries are one step; the lock is the
 * kernel's flock (sole's lock crate is model 1's subject, not re-modelled); the sync and async
 * request loops are the same steps (the async one's AbortSignal is not modelled); removing a
 * leftover socket file and listening are one step, and so are removing it and releasing the
 * lock at the end of release() (nothing but the mutant reads the file).
 *
 * Races covered: R39 (the socket file's existence decides nothing; a crash leaves it behind),
 * R40 (a launch between the primary's lock and its listen, or during its release).
 *
 * Mutant: MUTANT_SOCKET_EXISTS: the role is decided from the socket file (npm's
 * single-instance): no socket file, or nobody listening on it (stale, taken as left by a crash)
 * -> remove it and listen; else deliver.
 */

#ifndef NPROC
#define NPROC 4
#endif
#ifndef MAXCRASH
#define MAXCRASH NPROC
#endif

/* A connection's state, per sender. */
#define H_NONE     0   /* accepted, not yet handed to the listener */
#define H_SEEN     1   /* the listener saw it, no reply yet */
#define H_REPLIED  2   /* the reply is written */
#define H_CANCELED 3   /* ECANCELED frame written (release) */
#define H_CUT      4   /* closed before a reply: EOF / ECONNRESET (Gone) */

/* A launch's outcome. */
#define O_PRIMARY   1
#define O_ANSWERED  2
#define O_CANCELED  3
#define O_TIMEDOUT  4

byte lock;                 /* 0 free, l+1: launch l holds the role's flock */
bit  sock_file;            /* the socket file exists */
byte listener;             /* 0: nobody listens at the path; l+1: launch l's server */
byte conn[NPROC];          /* 0: no connection; p+1: sender's connection accepted by launch p */
byte hs[NPROC];            /* its state (H_*) */
byte handled[NPROC];       /* ghost: how many times a primary's listener saw its message */
bit  primary[NPROC];       /* launch l is primary now */
bit  released[NPROC];      /* launch l was primary and began its release() */
bit  alive[NPROC];
bit  kill[NPROC];
byte outcome[NPROC];
byte crashes;

/* The kernel's part of launch `me`'s death: lock dropped, its server and connections closed
 * (a reply already written stays readable), the socket file left where it is. */
#define DIE \
	if :: lock == me + 1 -> lock = 0 :: else -> skip fi; \
	if :: listener == me + 1 -> listener = 0 :: else -> skip fi; \
	t = 0; \
	do \
	:: t < NPROC -> \
		if \
		:: conn[t] == me + 1 && hs[t] < H_REPLIED -> hs[t] = H_CUT \
		:: else -> skip \
		fi; \
		t++ \
	:: else -> break \
	od; \
	if :: conn[me] != 0 -> conn[me] = 0 :: else -> skip fi; \
	primary[me] = 0; \
	alive[me] = 0

/* Launch `me` becomes primary: nobody else may be. */
#define BECOME_PRIMARY \
	t = 0; \
	do \
	:: t < NPROC -> assert(t == me || !primary[t]); t++ \
	:: else -> break \
	od; \
	t = 0; \
	primary[me] = 1

/* Has `me`'s server a connection in state `st`? (NPROC <= 4) */
#define C(i, st) (conn[i] == me + 1 && hs[i] == st)
#if NPROC == 1
#define PENDING(st) C(0, st)
#elif NPROC == 2
#define PENDING(st) (C(0, st) || C(1, st))
#elif NPROC == 3
#define PENDING(st) (C(0, st) || C(1, st) || C(2, st))
#else
#define PENDING(st) (C(0, st) || C(1, st) || C(2, st) || C(3, st))
#endif

/* The first connection of `me`'s server in state `st`, or NPROC. */
#define FIND(st) \
	t = 0; \
	do \
	:: t < NPROC && conn[t] == me + 1 && hs[t] == st -> break \
	:: t < NPROC && !(conn[t] == me + 1 && hs[t] == st) -> t++ \
	:: t == NPROC -> break \
	od

proctype Launch(byte me)
{
	byte t;
	{
		skip;
again:
#ifndef MUTANT_SOCKET_EXISTS
		/* code: lib/instance.ts#requestSingleInstanceSync
		 * code: lib/instance.ts#requestSingleInstance
		 * code: lib/index.ts#tryLock */
		atomic {
			if
			:: lock == 0 -> lock = me + 1; BECOME_PRIMARY; goto serve
			:: else -> skip
			fi
		}
#endif
		/* deliver: connect, send, read the reply:
		 * code: crates/instance/src/deliver.rs#deliver
		 * code: crates/instance/src/deliver.rs#connect
		 * code: src/instance.rs#deliver_args */
		atomic {
			if
			:: listener != 0 -> conn[me] = listener; hs[me] = H_NONE
			:: else -> skip   /* NotListening: ENOENT, ECONNREFUSED */
			fi
		}
		if
		:: conn[me] != 0 ->
			/* code: crates/instance/src/deliver.rs#read_reply */
			if
			:: atomic { hs[me] == H_REPLIED ->
				/* code: lib/instance.ts#answered */
				assert(handled[me] > 0);
				outcome[me] = O_ANSWERED; conn[me] = 0 }
				goto done
			:: atomic { hs[me] == H_CANCELED ->
				assert(handled[me] > 0 && released[conn[me] - 1]);
				outcome[me] = O_CANCELED; conn[me] = 0 }
				goto done
			:: atomic { hs[me] == H_CUT -> conn[me] = 0 }   /* Gone */
			fi
		:: else -> skip
		fi;
#ifndef MUTANT_SOCKET_EXISTS
		/* wait on the lock for up to 25 ms: code: lib/index.ts#lockSync code: lib/index.ts#lock */
		if
		:: atomic { lock == 0 -> lock = me + 1; BECOME_PRIMARY }
			goto serve
		:: lock != 0 ->   /* 25 ms passed, the lock still held */
			if
			:: atomic { lock != 0 ->
				/* the deadline: code: lib/instance.ts#timedOut */
				assert(primary[lock - 1]);
				outcome[me] = O_TIMEDOUT }
				goto done
			:: goto again
			fi
		fi;
#else
		/* BROKEN: nobody listens, so the socket file is stale (or absent): remove it, listen */
		sock_file = 0; listener = 0;
		atomic {
			if
			:: !sock_file -> sock_file = 1; listener = me + 1; BECOME_PRIMARY; goto serving
			:: else -> goto again   /* EADDRINUSE: someone listened meanwhile */
			fi
		}
#endif
serve:
		/* code: lib/instance.ts#becomePrimary: remove a leftover socket file while holding
		 * the lock (code: lib/instance.ts#unlinkSocket), then listen */
		atomic { sock_file = 0; sock_file = 1; listener = me + 1 }   /* one step: only the mutant reads the file */
serving:
		outcome[me] = O_PRIMARY;
end_serve:
		do
		:: atomic {
			/* hand a message to the listener */
			PENDING(H_NONE) -> FIND(H_NONE);
			hs[t] = H_SEEN; handled[t]++;
#ifdef STRICT_ONCE
			assert(handled[t] == 1);
#endif
			t = 0
		   }
		:: atomic {
			/* its reply: code: lib/instance.ts#answerFrame */
			PENDING(H_SEEN) -> FIND(H_SEEN);
			hs[t] = H_REPLIED;
			t = 0
		   }
		:: atomic {
			/* release(): stop listening, ECANCELED to what the listener saw, the rest cut:
			 * code: lib/instance.ts#release */
			listener = 0;
			released[me] = 1;
#ifdef MUTANT_SOCKET_EXISTS
			primary[me] = 0;   /* there, the role is the listening socket */
#endif
			t = 0;
			do
			:: t < NPROC ->
				if
				:: conn[t] == me + 1 && hs[t] == H_SEEN -> hs[t] = H_CANCELED
				:: conn[t] == me + 1 && hs[t] == H_NONE -> hs[t] = H_CUT
				:: else -> skip
				fi;
				t++
			:: else -> break
			od;
			t = 0
		   }
			/* the socket file removed (the lock still held), then the lock released: one step,
			 * as only the mutant reads the file */
			atomic { sock_file = 0; lock = 0; primary[me] = 0 }
			goto done
		od;
done:
		alive[me] = 0
	} unless {
		atomic { kill[me] -> DIE }
	}
}

/* The environment: kills any launch at any step. */
#define KILL(i) atomic { crashes < MAXCRASH && alive[i] && !kill[i] -> kill[i] = 1; crashes++ }
active proctype Env()
{
end_env:
	do
	:: KILL(0)
#if NPROC > 1
	:: KILL(1)
#endif
#if NPROC > 2
	:: KILL(2)
#endif
#if NPROC > 3
	:: KILL(3)
#endif
	od
}

init
{
	byte l;
	atomic {
		l = 0;
		do
		:: l < NPROC -> alive[l] = 1; run Launch(l); l++
		:: else -> break
		od
	}
}
