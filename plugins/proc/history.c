/*
 * The history: ended processes kept for `list all`, `close`'s "it
 * exited ..." and `logs` of what has gone.  At most `history` of them in
 * all, and at most `history_per_user` of one user (0: no such cap).
 *
 * When there are too many, the oldest ended process of the user who has
 * the most goes first: one user who starts thousands of short processes
 * pushes out only their own, never everyone else's (a daemon with one
 * user keeps exactly the newest `history`, as before).  A record a
 * `close` request still holds (pins) is not freed under it: it waits for
 * a later trim, and the history may be over for that long.
 *
 * Each user's ended records are a list of their own, oldest first, so a
 * trim never walks the records of others.
 */
#include <stdlib.h>

#include "proc.h"

struct huser {
	uid_t		 uid;
	size_t		 n;		/* its ended records */
	struct proc	*head, *tail;	/* oldest first, by hist_next */
	int		 stuck;		/* this trim: nothing it may lose */
};

static struct huser *users;		/* owned; those with records */
static size_t nusers, capusers;
static size_t nended;

static struct huser *
user_of(uid_t uid, int create)
{
	struct huser *u;
	size_t i, cap;

	for (i = 0; i < nusers; i++)
		if (users[i].uid == uid)
			return &users[i];
	if (!create)
		return NULL;
	if (nusers == capusers) {
		cap = capusers ? 2 * capusers : 8;
		if ((u = realloc(users, cap * sizeof(*u))) == NULL)
			return NULL;
		users = u;
		capusers = cap;
	}
	u = &users[nusers++];
	u->uid = uid;
	u->n = 0;
	u->head = u->tail = NULL;
	u->stuck = 0;
	return u;
}

void
history_add(struct proc *p)
{
	struct huser *u;

	p->hist_next = NULL;
	if ((u = user_of(p->uid, 1)) == NULL) {
		/* Out of memory: it stays listed until the plugin goes. */
		H->log(proc_self, PROCCTL_LOG_WARN, "%d: out of memory for its "
		    "history entry", (int)p->pid);
		return;
	}
	if (u->tail != NULL)
		u->tail->hist_next = p;
	else
		u->head = p;
	u->tail = p;
	u->n++;
	nended++;
}

/* Free U's oldest record that nobody holds: 0, or -1 when every one of
 * them is held. */
static int
drop_oldest(struct huser *u)
{
	struct proc *p, *prev = NULL;

	for (p = u->head; p != NULL && p->pins > 0; p = p->hist_next)
		prev = p;
	if (p == NULL) {
		u->stuck = 1;
		return -1;
	}
	if (prev != NULL)
		prev->hist_next = p->hist_next;
	else
		u->head = p->hist_next;
	if (u->tail == p)
		u->tail = prev;
	u->n--;
	nended--;
	proc_unlink(p);
	proc_free(p);
	return 0;
}

/* The user who has the most (and may lose one); of two with as many,
 * the one whose oldest ended first. */
static struct huser *
fullest(void)
{
	struct huser *best = NULL;
	size_t i;

	for (i = 0; i < nusers; i++) {
		if (users[i].stuck || users[i].n == 0)
			continue;
		if (best == NULL || users[i].n > best->n ||
		    (users[i].n == best->n && (users[i].head->ended.tv_sec <
		    best->head->ended.tv_sec || (users[i].head->ended.tv_sec ==
		    best->head->ended.tv_sec && users[i].head->ended.tv_nsec <
		    best->head->ended.tv_nsec))))
			best = &users[i];
	}
	return best;
}

void
history_trim(void)
{
	struct huser *u;
	size_t i;

	for (i = 0; i < nusers; i++)
		users[i].stuck = 0;
	if (proc_conf.history_per_user > 0)
		for (i = 0; i < nusers; i++)
			while (users[i].n > proc_conf.history_per_user &&
			    drop_oldest(&users[i]) == 0)
				;
	while (nended > proc_conf.history_max && (u = fullest()) != NULL)
		(void)drop_oldest(u);
	/* Users with nothing left leave the table. */
	for (i = 0; i < nusers;)
		if (users[i].n == 0)
			users[i] = users[--nusers];
		else
			i++;
}

size_t
history_count(void)
{
	return nended;
}

void
history_clear(void)
{
	free(users);
	users = NULL;
	nusers = capusers = 0;
	nended = 0;
}
