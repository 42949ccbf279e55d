/*
 * scope.pml: the scope registry's operation cycle (crates/scope), checked with spin.
 *
 * Protocol. Every registry operation (register, release, reclaimStale, ...) runs the one cycle
 * of Registry::run: take the exclusive flock on <data>.lock (a separate file, never renamed or
 * unlinked) -> load the data file -> reclaim allocations whose owner is not the recorded
 * process any more -> the operation itself (register: conflict check against every remaining
 * allocation) -> if anything changed: unlink a leftover <data>.tmp, create it O_EXCL, write the
 * table, fdatasync it, rename it over the data file, fsync the directory -> unlock.
 *
 * Processes. NPROC workers (default 3: 12 million states, 20 s; NPROC=4 with RESTARTS=0 is the
 * scope4 check: 27 million states, 1.2 GB, 72 s; four workers with a restart exceed 5 GB), each one
 * owner with its own allocation name ("w<i>", pid i) and a fixed write rule (P0 R0, P1 R1,
 * P2 R2, P3 R0). A life: register, then release it or keep it (a refused register keeps
 * nothing; the process goes on running and may die later). A killer may kill any live process
 * at any step; the kernel's part is atomic with the death: its flock is dropped, its
 * descriptors closed, its memory (locals, what it holds) gone; files keep what was written.
 * RESTARTS times in the whole run (default 2) a killed worker starts again as a new incarnation
 * with the same pid (pid reuse: only the start time differs) claiming the next rule. If POWER
 * (default 1), a power loss is checked at every step: every process dies at once, and the disk
 * keeps only what was fsynced: a rename not yet followed by the directory fsync may be undone,
 * a file whose data was not fsynced comes back torn (POSIX gives no more). Nothing runs after a
 * power loss, so it is not a step but an assertion after every step that changes the disk.
 *
 * Properties (assertions; invalid end states are checked too: nobody waits forever).
 *  P1 every load under the lock finds a complete table (not empty-by-truncation, not torn);
 *  P2 the table loaded is the one the last completed operation produced (no lost update), and
 *     it holds the allocation of every live process whose register succeeded;
 *  P3 no two live processes hold overlapping write scopes (checked when a register returns),
 *     and no table written has two overlapping allocations;
 *  P4 a power loss at any step leaves a complete table in the data file.
 *
 * What is abstracted away, plainly:
 *  - The table is one number: slot j is process j's allocation (0 none, else 1 + rule +
 *    3*incarnation). The rule space is three recursive write rules: R0 /w/**, R1 /w/src/**
 *    (inside R0), R2 /x/** (disjoint from both). Read rules, non-recursive rules, delegation,
 *    adopt, sessions and reparenting are not modelled (delegate and adopt run the same cycle;
 *    only the table operation differs). The file content is one value (a table, EMPTY, TORN or
 *    ABSENT), not bytes: a write is "part of it" (TORN) then "all of it", or, in place,
 *    truncate (EMPTY) / part (TORN) / rest.
 *  - Liveness is exact: an allocation is stale iff its process died or its pid now belongs to a
 *    later incarnation (what Recorded::check decides from pid + start time + boot id). The pid
 *    check before the lock (live_identity) is always true: each worker registers itself.
 *  - The per-handle cache (generation counter in the lock file + stamp) is abstracted as
 *    "always reread": the cache is reused only when generation and stamp are unchanged, i.e.
 *    when a reread would give the same table. bump_generation is not a step.
 *  - The flock wait has no timeout (ETIMEDOUT only makes a waiter give up).
 *  - Power loss: only the last durable rename or the newest one may survive (ext4 commits
 *    renames in order; intermediate ones are not modelled), and writeback never makes
 *    anything durable on its own.
 *  - Steps that change nothing shared are merged: lock + load + reclaim + the table operation
 *    are one step (a death inside it is a death before it: nothing was written); unlink +
 *    create + the first bytes of the temp file are one step, the rest + fdatasync another; the
 *    directory fsync and the unlock are one step. reclaimStale is the same cycle with no table
 *    operation and is not modelled separately.
 *
 * Races covered (docs/races.md): R4 (renaming over a locked file), R23 (truncate-then-write),
 * R25 (a crashed owner's allocation, pid reuse), and the crash-atomic save the registry's
 * snapshot reader relies on.
 *
 * Mutants (models/scope.json):
 *  MUTANT_TRUNCATE_WRITE    the data file is locked and rewritten in place (truncate, write).
 *  MUTANT_LOCK_DATA_RENAME  the lock is an flock on the data file itself, then temp + rename.
 *  MUTANT_NO_FSYNC          temp + rename without fdatasync of the temp file first.
 * In MUTANT_LOCK_DATA_RENAME the data file's inode is a number modulo NPROC+1 that each rename
 * advances, with one flock per inode; a process opens the data file (a step), flocks that
 * inode and reads through that descriptor (an inode renamed over keeps its old table). Several
 * writers may then share <data>.tmp: the name belongs to the last creator; a writer whose temp
 * inode was renamed over the data file by another writes into the data file.
 */

#ifndef NPROC
#define NPROC 3
#endif
#ifndef RESTARTS
#define RESTARTS 2
#endif
#ifndef POWER
#define POWER 1
#endif

#define NONE 255
/* file contents that are not a table (tables are >= 0) */
#define ABSENT (-1)
#define EMPTY  (-2)
#define TORN   (-3)

#define REG     1
#define REL     2
#define RECLAIM 3

/* a table: slot j in bits 4j..4j+3 (1 + rule + 3*incarnation <= 15) */
#if RESTARTS > 4
#error "RESTARTS > 4 does not fit a table slot"
#endif
#define SLOT(t, j)       (((t) >> (4 * (j))) & 15)
#define SETSLOT(t, j, v) t = (((t) & ~(15 << (4 * (j)))) | ((v) << (4 * (j))))
#define RULE(s)          (((s) - 1) % 3)
#define INC(s)           (((s) - 1) / 3)
/* R0 /w/** and R1 /w/src/** overlap; R2 /x/** overlaps nothing else */
#define OVERLAP(a, b)    ((a) == (b) || (a) + (b) == 1)

bool alive[NPROC];
byte inc[NPROC];          /* incarnation of the process holding pid i */
byte restarts = 0;        /* restarts so far (at most RESTARTS in the whole run) */
byte holds[NPROC];        /* ghost: 1 + rule its register returned success for; 0 none */
int latest = 0;           /* ghost: the table the last completed operation wrote */

byte lockholder = NONE;   /* the flock on <data>.lock */

int data = 0;             /* the data file as readers see it; absent = the empty table (0) */
bool dsync = 1;           /* the data file's content is on disk */
int dprev = 0;            /* the data file after a power loss if the last rename is undone */
bool dprev_sync = 1;
bool dirty = 0;           /* a rename not yet made durable by the directory fsync */
int tmpv = ABSENT;        /* <data>.tmp */
bool tsync = 0;
byte tmpown = NONE;       /* whose open descriptor is the inode named <data>.tmp */
byte dataown = NONE;      /* whose open temp descriptor is now the data file (broken protocols) */

#ifdef MUTANT_LOCK_DATA_RENAME
#define K (NPROC + 1)
byte dgen = 0;            /* which inode the data name maps to (ids modulo K) */
byte inolock[K] = NONE;   /* flock per inode */
int oldc[K];              /* content of an inode after it was renamed over */
#endif

inline kill(k) {
  /* the kernel's part, atomic with the death */
  alive[k] = 0;
  holds[k] = 0;
  if :: lockholder == k -> lockholder = NONE :: else fi;
  if :: tmpown == k -> tmpown = NONE :: else fi;
  if :: dataown == k -> dataown = NONE :: else fi;
#ifdef MUTANT_LOCK_DATA_RENAME
  for (g : 0 .. K - 1) {
    if :: inolock[g] == k -> inolock[g] = NONE :: else fi
  }
#endif
}

/* P4: what a power loss now would leave is a complete table. Nothing runs after a power loss,
 * so instead of a step it is this check, made after every step that changes the disk. */
inline durable() {
#if POWER
  assert(dsync && data >= 0 && (!dirty || (dprev_sync && dprev >= 0)))
#else
  skip
#endif
}

/* One operation: Registry::run. kind: REG or REL. Lock, load, reclaim and the table operation
 * are one step: they change nothing shared, so a death between them is a death before the
 * step, and liveness only ever goes from alive to dead. */
inline cycle(kind) {
#ifdef MUTANT_LOCK_DATA_RENAME
  myg = dgen;                                               /* open(data): the inode named now */
#endif
  atomic {
#ifdef MUTANT_LOCK_DATA_RENAME
    inolock[myg] == NONE -> inolock[myg] = i;               /* flock on that inode */
    if :: myg == dgen -> t = data :: else -> t = oldc[myg] fi;  /* read through the locked fd */
#else
    lockholder == NONE -> lockholder = i;                   /* code: crates/scope/src/store/mod.rs#lock */
    t = data;                                               /* code: crates/scope/src/registry/mod.rs#load */
                                                            /* code: crates/scope/src/store/mod.rs#read */
#endif
    assert(t >= 0);                                         /* P1 */
    assert(t == latest);                                    /* P2 */
    for (j : 0 .. NPROC - 1) {
      assert(!alive[j] || holds[j] == 0 || SLOT(t, j) == holds[j] + 3 * inc[j])  /* P2 */
    }
    /* reclaim */
    changed = 0;                                            /* code: crates/scope/src/registry/mod.rs#reclaim */
    for (j : 0 .. NPROC - 1) {                              /* code: crates/scope/src/table/liveness.rs#reclaim_stale_with */
      s = SLOT(t, j);
      if
      :: s != 0 && (!alive[j] || inc[j] != INC(s)) ->      /* code: crates/scope/src/table/liveness.rs#decide */
         SETSLOT(t, j, 0); changed = 1
      :: else
      fi
    }
    /* the operation */
    ok = 0;
    if
    :: kind == REG ->                                       /* code: crates/scope/src/registry/ops.rs#register */
       ok = 1;                                              /* code: crates/scope/src/table/operations.rs#register */
       for (j : 0 .. NPROC - 1) {
         s = SLOT(t, j);
         if
         :: s != 0 && OVERLAP(RULE(s), r) -> ok = 0        /* code: crates/scope/src/table/allocations.rs#conflict_owner */
         :: else                                            /* code: crates/scope/src/rule.rs#rules_overlap */
         fi
       }
       if :: ok -> SETSLOT(t, i, 1 + r + 3 * inc[i]); changed = 1 :: else fi
    :: kind == REL ->                                       /* code: crates/scope/src/registry/ops.rs#release */
       if                                                   /* code: crates/scope/src/table/operations.rs#release */
       :: SLOT(t, i) != 0 -> SETSLOT(t, i, 0); changed = 1
       :: else                                              /* EUNKNOWN: nothing to save */
       fi
    fi;
    /* P3: a table written never has two overlapping allocations */
    for (j : 0 .. NPROC - 1) {
      for (s : j + 1 .. NPROC - 1) {
        assert(SLOT(t, j) == 0 || SLOT(t, s) == 0 || !OVERLAP(RULE(SLOT(t, j)), RULE(SLOT(t, s))))
      }
    }
    s = 0; j = 0
  };
  /* save only if something changed */
  if
  :: changed ->                                             /* code: crates/scope/src/store/mod.rs#write */
#ifdef MUTANT_TRUNCATE_WRITE
     d_step { data = EMPTY; dsync = 0; durable() };         /* truncate the locked data file */
     d_step { data = TORN; durable() };                     /* part of the bytes */
     d_step { data = t; latest = t; durable() }             /* the rest; fsync follows */
#else
     d_step {                                               /* code: crates/scope/src/store/mod.rs#write_temp */
       /* unlink a leftover <data>.tmp, create it O_EXCL (so no EEXIST), part of the bytes */
       tmpv = TORN; tsync = 0; tmpown = i
     };
     d_step {                                            /* the rest of the bytes, fdatasync, close */
       if
       :: tmpown == i -> tmpv = t
       :: dataown == i -> data = t
       :: else                                           /* its inode was unlinked by another */
       fi;
#ifndef MUTANT_NO_FSYNC
       if
       :: tmpown == i -> tsync = 1
       :: dataown == i -> dsync = 1
       :: else
       fi;
#endif
       if :: tmpown == i -> tmpown = NONE :: else fi;
       if :: dataown == i -> dataown = NONE :: else fi;
       durable()
     };
     d_step {                                            /* rename <data>.tmp over the data file */
       if
       :: tmpv == ABSENT -> ok = 0; changed = 0          /* ENOENT: the operation fails */
       :: else ->
#ifdef MUTANT_LOCK_DATA_RENAME
          oldc[dgen] = data; dgen = (dgen + 1) % K;
#endif
          data = tmpv; dsync = tsync; dataown = tmpown;
          tmpv = ABSENT; tmpown = NONE;
          dirty = 1; latest = t
       fi;
       durable()
     }
#endif
  :: else
  fi;
  /* fsync the directory (or, in place, the file), unlock (the Locked guard is dropped), return */
  d_step {                                                  /* code: crates/scope/src/store/mod.rs#sync_dir */
    if
    :: changed ->
#ifdef MUTANT_TRUNCATE_WRITE
       dsync = 1;
#else
       dprev = data; dprev_sync = dsync; dirty = 0;
#endif
       durable()
    :: else
    fi;
#ifdef MUTANT_LOCK_DATA_RENAME
    inolock[myg] = NONE; myg = 0;
#else
    lockholder = NONE;                                      /* code: crates/scope/src/registry/mod.rs#run */
#endif
    if
    :: kind == REG && ok ->
       holds[i] = 1 + r;
       for (j : 0 .. NPROC - 1) {
         assert(j == i || !alive[j] || holds[j] == 0 || !OVERLAP(holds[j] - 1, r))  /* P3 */
       }
    :: else
    fi;
    t = 0; changed = 0; ok = 0; j = 0
  }
}

proctype Worker(byte i) {
  byte r = i % 3;           /* P0 R0, P1 R1, P2 R2, P3 R0 */
  int t;
  bool changed, ok;
  byte j, s;
#ifdef MUTANT_LOCK_DATA_RENAME
  byte myg;
#endif
life:
  {
    cycle(REG);
    if
    :: holds[i] != 0 -> holds[i] = 0; cycle(REL)            /* stops writing, then releases */
    :: skip                                                 /* keeps it (or was refused), runs on */
    fi
  } unless { !alive[i] };
  if
  :: atomic {
       !alive[i] && restarts < RESTARTS ->
       /* a new incarnation, same pid, nothing remembered; it claims the next rule */
       restarts++; alive[i] = 1; inc[i]++;
       r = (i + 1) % 3; t = 0; changed = 0; ok = 0; j = 0; s = 0;
#ifdef MUTANT_LOCK_DATA_RENAME
       myg = 0
#endif
     };
     goto life
  :: else
  fi
}

active proctype Killer() {
  byte g;
end:
  do
  :: atomic { alive[0] -> kill(0); g = 0 }
  :: atomic { alive[1] -> kill(1); g = 0 }
#if NPROC > 2
  :: atomic { alive[2] -> kill(2); g = 0 }
#endif
#if NPROC > 3
  :: atomic { alive[3] -> kill(3); g = 0 }
#endif
  od
}

init {
  atomic {
    byte n;
    for (n : 0 .. NPROC - 1) {
      alive[n] = 1;
      run Worker(n)
    }
    n = 0
  }
}
