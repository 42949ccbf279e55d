/*
 * pidfile.pml: claim / read / release of a sole pidfile (model 1 of issue 15).
 *
 * Protocol. A claim opens the path (creating the file if it is absent; never truncating),
 * takes an exclusive flock on it (non-blocking: claimPidfile, which on contention refuses with
 * EHELD naming the holder that read() reports; or blocking: claimPidfileWhenFree, then
 * claim_from_lock), then under the lock truncates, writes its pid, stores the identity record
 * (user.sole.identity: pid, start time, lock=flock; best effort, a filesystem without xattrs
 * has none) and fsyncs. Release removes the record, empties the file, unlocks and closes; the
 * file is never unlinked. A read never locks or writes: it opens the file read-only, asks the
 * kernel's lock list (/proc/locks, by inode) who holds it; for a listed live pid it reads that
 * pid's identity (start time), then looks again that the same pid still holds the lock and
 * still has that start time, and only then says "held by pid P (start time S)"; with no
 * holder it judges the content (pid, record) and never says held.
 *
 * Participants (NPROC = 4; the model is written for NPROC 3 or 4): NC = NPROC - 1 = 3
 * claimants and 1 reader. Each claimant incarnation makes one claim (try or blocking, its
 * choice), holds, releases, then lives on idle (so its pid stays taken); the reader makes
 * READS = 2 reads, each at any moment. A killer may kill any claimant at any step, MAXKILL = 1
 * kill per run: the kernel then, in the same step, drops its flocks, closes its descriptors
 * and frees its pid; its memory (its claim) is gone; what it wrote stays in the file. The
 * killed claimant comes back as a new incarnation (a new start time) with any pid no live
 * process has: its own old one or the previous owner's (pid reuse); until it claims, it is
 * "an unrelated live process that has the dead holder's pid". Pids are 1..NPID (NPID = NC +
 * 1). At the start the file is absent, or it still holds the pid NPID of a dead previous owner
 * (incarnation 1) that was killed before it could release.
 *
 * Properties (assertions; invalid end states are checked too):
 *  - at most one claimant at any instant: when a claim returns, no other process has one
 *    (a claimant: from write_claim's return to the start of release, or its death);
 *  - a read that says "held by pid P, start time S" is true at one instant of that read (its
 *    linearization point, the second look at the kernel's lock list): there, the flock on the
 *    inode read is held by the live incarnation with pid P and start time S. So a read never
 *    names a dead process, a process that reused a dead holder's pid, or a process that does
 *    not hold the lock. (A verdict held without identity, after /proc refused the identity
 *    read, names the pid the kernel lists at that instant.) Free and unverified verdicts name
 *    no holder; EUNKNOWNHOLDER is an error, not a verdict;
 *  - nobody waits forever: no claimant is left blocked in flock (valid end states: a finished
 *    process, the killer when its kills are spent).
 *
 * Abstracted away (plainly): one file path in one directory, one filesystem; the file content
 * is one value (a pid, 0 for empty), not bytes; truncate + write of the pid is one step, and
 * each flock, /proc/locks read and /proc/PID read is one atomic step; the identity record
 * (user.sole.identity) is written and removed at its steps but carries no state here: with
 * lock=flock (the only records sole writes) it can only make an unlocked file read free, and
 * a free verdict names nobody, so no assertion depends on it; no other tools' records (so no
 * "held, locked: false" verdict) and nobody rewrites the content; the unlocked-file judgement
 * (free / unverified) is one step; no machine crash or power loss (a killed process's written
 * data stays, as in the page cache), so fsync is a no-op; the kernel's part of a death is
 * instant (R15's dying holder whose lock lingers while its threads tear down, and orphaned
 * locks held by an inherited descriptor, are not modelled: no forks); no pid namespaces (R17);
 * /proc is always readable (no hidepid: identity() fails only when the process died in
 * between); identity is the start time alone (one boot, no boot id); one kill per run, so at
 * most one pid reuse and four claims; the reader never dies (it holds no lock and writes
 * nothing, so its death changes nothing); no read_with_handle (pidfd); claim_as's own read()
 * for its refusal message is the reader's read, not repeated in the claimant, and a refused
 * claim does not retry; no I/O errors (ENOSPC, EIO); one thread per process.
 *
 * Races covered (docs/races.md): R1 (never unlink), R2 (check-then-act stale reclaim; pid
 * reuse), R3 (a death between create/lock and write: an unlocked file is free whatever it
 * holds, a claim takes it over), R13 (the holder from the kernel's view, not the content),
 * R16 (reads take no lock and write nothing), R18 (a sole pidfile whose pid now names another
 * process never reads held), R19 (pid reuse between the reader's steps).
 *
 * Mutants (models/pidfile.json; each must give a counterexample):
 *  - MUTANT_EXCL_KILL0 (R2): the O_EXCL + kill(pid, 0) protocol (trusty-memory's
 *    daemon_lock): two starters both judge the same dead pid stale, both unlink and create,
 *    both win. With CHECK_REFUSAL: a refusal names a process that only reused the dead
 *    owner's pid (a dead owner's file looks alive).
 *  - MUTANT_UNLINK (R1): flock + unlink on release (neon's pid_file done wrong).
 *  - MUTANT_CONTENT_READ (R13): a reader that names the content's pid when the file is locked.
 *  - MUTANT_NO_START_RECHECK (R19): confirm_live_holder without its last start-time read.
 */

#ifndef NPROC
#define NPROC 4
#endif
#define NC (NPROC - 1)          /* claimants */
#define NPID (NC + 1)           /* pids 1..NPID */
#ifndef NINO
#define NINO 1                  /* inodes the path can name over a run (1: never unlinked) */
#endif
#ifndef READS
#define READS 2                 /* reads by the reader */
#endif
#ifndef MAXKILL
#define MAXKILL 1               /* kills in one run */
#endif
#ifndef MAXINC
#define MAXINC (NC + 1 + MAXKILL)   /* incarnation (= start time) numbers 1..MAXINC; 1 is the
                                       dead previous owner, 2..NC+1 the first claimants */
#endif

/* The path and the inodes. */
byte name;                      /* the inode the path names, 0: no file */
byte nino;                      /* inodes created so far */
byte lk[NINO + 1];              /* incarnation holding the exclusive flock, 0: none */
byte content[NINO + 1];         /* the pid written, 0: empty */
#ifdef MUTANT_EXCL_KILL0
byte wr[NINO + 1];              /* ghost: the incarnation that wrote the content */
#endif

/* Processes. */
byte inc_pid[MAXINC + 1];       /* incarnation -> its pid */
byte pid_inc[NPID + 1];         /* pid -> the live incarnation that has it, 0: none */
byte ninc;                      /* incarnations so far */
byte inc[NC];                   /* claimant slot -> its incarnation */
byte fd[NC];                    /* the inode a claimant has open, 0: none */
bool own[NC];                   /* holds a claim (a Pidfile guard) */
byte nown;                      /* claimants now */
bool killed[NC];                /* killed, not yet reincarnated */
bool gone[NC];                  /* exited for good */
byte kills;

#ifdef MUTANT_NO_START_RECHECK
/* confirm_live_holder without its last step: the pid still holds the lock, but its start
   time is not read again (the identity read before the second look is trusted). */
#define START_AGAIN(p, st) true
#else
#define START_AGAIN(p, st) (pid_inc[p] == (st))   /* start_time(pid) == identity's */
#endif

#define ME inc[s]
#define MYPID inc_pid[inc[s]]
#define ALIVE(p) (pid_inc[p] != 0)

/* open_lock_file: open the existing file, or create it (O_CREAT|O_EXCL, then open theirs on
   EEXIST: one step here); never truncates. No inode left: the open fails (mutants only). */
inline open_path() {
  if
  :: name != 0 -> fd[s] = name
  :: name == 0 && nino < NINO ->
     nino++; name = nino; fd[s] = nino; content[nino] = 0
  :: name == 0 && nino >= NINO -> fd[s] = 0
  fi
}

inline claim_returns() {
  own[s] = 1; nown++;
  assert(nown <= 1)             /* at most one claimant at any instant */
}

proctype Claimant(byte s) {
  byte c;
  bool got;
#ifdef MUTANT_EXCL_KILL0
  byte w;
#endif
  do
  :: gone[s] -> break
  :: !gone[s] ->
     {
#ifdef MUTANT_EXCL_KILL0
       /* The O_EXCL + kill(pid, 0) protocol (trusty-memory's daemon_lock): create the file
          with O_EXCL and write the pid; if it exists, read the pid, and if kill(pid, 0) says
          dead, unlink it and try again. Release unlinks. Not sole code: no code tags. */
       skip;
    excl_again:
       atomic {                                     /* open(O_CREAT|O_EXCL) */
         if
         :: name == 0 && nino < NINO ->
            nino++; name = nino; fd[s] = nino; content[nino] = 0; got = 1
         :: else -> got = 0
         fi
       }
       if
       :: got ->
          atomic { content[fd[s]] = MYPID; wr[fd[s]] = ME }   /* write the pid (and fsync) */
          atomic { claim_returns() }
          atomic {                                  /* release: unlink(path), close */
            own[s] = 0; nown--;
            if :: name == fd[s] -> name = 0 :: else fi;
            fd[s] = 0
          }
       :: !got ->
          atomic { c = content[name]; w = wr[name] } /* read the pid (w: ghost, its writer) */
          if
          :: c == 0 -> skip                         /* being written: refuse */
          :: c != 0 && ALIVE(c) ->                  /* kill(pid, 0) == 0: refuse, "already
                                                       running as PID c" */
#ifdef CHECK_REFUSAL
             /* The refusal names pid c as the running owner: the live process with pid c must
                be the one that wrote it, not a process that reused a dead owner's pid. */
             assert(pid_inc[c] == w)
#else
             skip
#endif
          :: c != 0 && !ALIVE(c) ->                 /* kill(pid, 0): ESRCH: stale, reclaim */
             atomic { name = 0; c = 0; w = 0 }      /* unlink(path) */
             goto excl_again
          fi
       fi;
#else
       /* One claim per incarnation: claimPidfile (try) or claimPidfileWhenFree (blocking). */
       if
       :: atomic {                                  /* code: crates/pidfile/src/claim.rs#claim_as */
            open_path();                            /* code: crates/lock/src/open.rs#open_lock_file */
            if                                      /* code: crates/lock/src/lib.rs#try_on (LOCK_EX|LOCK_NB) */
            :: fd[s] != 0 && lk[fd[s]] == 0 -> lk[fd[s]] = ME; got = 1
            :: else -> fd[s] = 0; got = 0           /* refused: EHELD naming the holder read()
                                                       reports; the file is closed.
                                                       code: crates/pidfile/src/claim.rs#held */
            fi
          }
       :: atomic { open_path() }                    /* code: crates/lock/src/open.rs#open_lock_file */
          atomic {                                  /* code: crates/lock/src/lib.rs#lock_on (LOCK_EX, waiting) */
            fd[s] != 0 && lk[fd[s]] == 0 -> lk[fd[s]] = ME; got = 1
          }                                         /* code: crates/pidfile/src/claim.rs#claim_from_lock */
       fi;
       if
       :: got ->
          /* write_claim, all under the lock */
          content[fd[s]] = MYPID;                   /* code: crates/pidfile/src/claim.rs#write_claim (set_len(0), write_all_at) */
          atomic {                                  /* the record (no state here), fsync: */
            /* code: crates/pidfile/src/record.rs#write_record */
            claim_returns()                         /* code: crates/pidfile/src/claim.rs#write_claim (sync_all, Ok) */
          }
          /* hold, then Pidfile::release */
#ifdef MUTANT_UNLINK
          /* flock + unlink on release (neon's pid_file done wrong): unlink the path while
             still holding the lock, then unlock and close. Not sole code. */
          atomic { own[s] = 0; nown--; if :: name == fd[s] -> name = 0 :: else fi }
#else
          atomic {                                  /* code: crates/pidfile/src/claim.rs#release */
            own[s] = 0; nown--;
            /* code: crates/pidfile/src/record.rs#remove_record (no state here) */
            content[fd[s]] = 0                      /* set_len(0) */
          }
#endif
          atomic { lk[fd[s]] = 0; fd[s] = 0; got = 0 }   /* code: crates/lock/src/lib.rs#drop (LOCK_UN, close) */
       :: !got -> skip
       fi;
#endif
       /* Done: the process lives on, idle, until it is killed (or the run ends). */
    end_idle:
       false
     } unless { killed[s] };
     /* Killed (the kernel's part was done by the killer): a new incarnation, or gone. */
     atomic {
       if
       :: ninc >= MAXINC -> gone[s] = 1
       :: ninc < MAXINC ->
          ninc++; inc[s] = ninc;
          if                                        /* any pid no live process has */
          :: pid_inc[1] == 0 -> inc_pid[ninc] = 1
          :: pid_inc[2] == 0 -> inc_pid[ninc] = 2
          :: pid_inc[3] == 0 -> inc_pid[ninc] = 3
#if NPID > 3
          :: pid_inc[4] == 0 -> inc_pid[ninc] = 4
#endif
          fi;
          pid_inc[inc_pid[ninc]] = ninc
       fi;
       killed[s] = 0; c = 0; got = 0
     }
  od
}

/* Kill a claimant at any step: the kernel drops its flocks, closes its descriptors, frees its
   pid, in one step; its memory (its claim) is gone; the file keeps what it wrote. */
inline kill(w) {
  kills++; killed[w] = 1;
  if :: own[w] -> own[w] = 0; nown-- :: else fi;
  i = 1;
  do
  :: i <= NINO -> if :: lk[i] == inc[w] -> lk[i] = 0 :: else fi; i++
  :: i > NINO -> break
  od;
  fd[w] = 0;
  pid_inc[inc_pid[inc[w]]] = 0;
  i = 0
}

proctype Killer() {
  byte i;
end_k:
  do
  :: atomic { kills < MAXKILL && !gone[0] && !killed[0] -> kill(0) }
  :: atomic { kills < MAXKILL && !gone[1] && !killed[1] -> kill(1) }
#if NC > 2
  :: atomic { kills < MAXKILL && !gone[2] && !killed[2] -> kill(2) }
#endif
  od
}

/* The reader: read() of crates/pidfile (read_inner), READS times, at any moment. */
proctype Reader() {
  byte reads, t, hp, id, c, g, looks;
  bool ok, galive;
end_r:
  do
  :: reads >= READS -> break
  :: reads < READS ->
     reads++;
     t = name;                                     /* code: crates/pidfile/src/read.rs#inspect */
                                                   /* code: crates/lock/src/open.rs#open_for_read */
     if
     :: t == 0 -> goto done                        /* Absent */
     :: else
     fi;
     looks = 0;
  again:
     atomic {                                      /* code: crates/pidfile/src/read.rs#read_inner */
       hp = (lk[t] != 0 -> inc_pid[lk[t]] : 0);    /* code: crates/lock/src/holder.rs#flock_holders */
#ifdef MUTANT_CONTENT_READ
       /* A reader that, seeing the file locked, names the pid in the content as the holder
          (what content-trusting readers do; one step here, lock check and content read at
          the same instant). Not sole code. */
       if
       :: hp != 0 ->
          c = content[t]; g = lk[t];
          if
          :: c != 0 -> assert(inc_pid[g] == c && pid_inc[c] == g)   /* "held by pid c" */
          :: else
          fi
       :: else
       fi
#endif
       skip
     }
     if
     :: hp == 0 ->
        /* No holder: judge the content; never "held" (sole's records say lock=flock): a
           dead content pid is Free(exited), a live one without record Unverified, with a
           lock=flock record Free(not-locked). No holder is named: one step. */
        c = content[t]                             /* code: crates/pidfile/src/read.rs#judge_free_file */
                                                   /* code: crates/pidfile/src/read.rs#judge_unlocked */
     :: hp != 0 ->
#ifdef MUTANT_CONTENT_READ
        goto done;
#endif
        ok = pid_inc[hp] != 0;                     /* code: crates/procid/src/pid/alive.rs#alive_not_exiting */
        if
        :: ok ->
           /* confirm_live_holder */
           id = pid_inc[hp];                       /* code: crates/procid/src/identity.rs#identity */
           if
           :: id != 0 ->
              atomic {                             /* code: crates/pidfile/src/read.rs#confirm_live_holder (still_holds) */
                ok = (lk[t] != 0 && inc_pid[lk[t]] == hp);
                g = lk[t]; galive = (g != 0 && pid_inc[inc_pid[g]] == g)
              }
              atomic {
                if                                 /* code: crates/procid/src/identity.rs#start_time */
                :: ok && START_AGAIN(hp, id) ->
                   /* verdict: held by (hp, start time id). At the still_holds instant the
                      lock was held by the live incarnation (hp, id). */
                   assert(g == id && galive && inc_pid[g] == hp);
                   goto done
                :: else -> skip                    /* changed under us: look again */
                fi
              }
           :: id == 0 ->
              /* identity() failed: held without identity if the pid is alive and still holds */
              atomic {                             /* code: crates/procid/src/pid/alive.rs#alive_not_exiting, then */
                ok = pid_inc[hp] != 0;             /* code: crates/pidfile/src/read.rs#confirm_live_holder (still_holds) */
                if
                :: ok && lk[t] != 0 && inc_pid[lk[t]] == hp ->
                   g = lk[t];
                   assert(pid_inc[hp] == g);       /* verdict: held by pid hp, no identity */
                   goto done
                :: else -> skip
                fi
              }
           fi;
           goto again                              /* None: look again */
        :: !ok ->
           /* no live listed holder (is_dying: never, the kernel's part is instant here) */
           looks++;
           if
           :: looks >= 3 -> goto done              /* EUNKNOWNHOLDER */
           :: else -> goto again
           fi
        fi
     fi;
  done:
     atomic { t = 0; hp = 0; id = 0; c = 0; g = 0; looks = 0; ok = 0; galive = 0 }
  od
}

init {
  byte k;
  atomic {
    /* The previous owner: incarnation 1 with pid NPID, dead. The file: absent, or left by it
       (killed before it released). */
    ninc = 1; inc_pid[1] = NPID;
    if
    :: skip
    :: nino = 1; name = 1; content[1] = NPID;
#ifdef MUTANT_EXCL_KILL0
       wr[1] = 1;
#endif
       skip
    fi;
    do
    :: k < NC ->
       ninc++; inc[k] = ninc; inc_pid[ninc] = k + 1; pid_inc[k + 1] = ninc;
       run Claimant(k); k++
    :: k >= NC -> break
    od;
    run Reader(); run Killer()
  }
}
