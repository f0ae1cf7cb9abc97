/*
 * The access policy of [access]: who may use the daemon at all, and who is
 * an admin.  Identities come from the kernel (SO_PEERCRED, SO_PEERGROUPS)
 * for Unix peers and from authentication for TCP peers, never from what a
 * client says.  Names are resolved once, when the policy is loaded, so a
 * check is a scan of a few integers: cheap enough to run on every command.
 */
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procctld.h"

struct idlist {
	unsigned	*ids;
	size_t		 n;
	int		 any;		/* "*": everybody */
	int		 set;		/* the key was given */
};

struct policy {
	struct idlist	allow_users, allow_groups;
	struct idlist	admin_users, admin_groups;
};

static struct policy active;
static unsigned generation;	/* bumped by every load */

static void
idlist_free(struct idlist *l)
{
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

static void
policy_free(struct policy *p)
{
	idlist_free(&p->allow_users);
	idlist_free(&p->allow_groups);
	idlist_free(&p->admin_users);
	idlist_free(&p->admin_groups);
}

static int
idlist_has(const struct idlist *l, unsigned id)
{
	size_t i;

	if (l->any)
		return 1;
	for (i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return 1;
	return 0;
}

/* Resolve a list of user (GROUPS 0) or group names, separated by spaces
 * or commas; numbers are ids.  -1 after logging each unknown name. */
static int
idlist_parse(struct idlist *l, const char *text, int groups, const char *key)
{
	char *copy, *tok, *save = NULL, *end;
	unsigned long n;
	unsigned *ids;
	int bad = 0;

	l->set = 1;
	if ((copy = strdup(text)) == NULL)
		return -1;
	for (tok = strtok_r(copy, " ,\t", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,\t", &save)) {
		if (strcmp(tok, "*") == 0) {
			l->any = 1;
			continue;
		}
		errno = 0;
		n = strtoul(tok, &end, 10);
		if (*end != '\0' || errno != 0) {
			struct passwd *pw = groups ? NULL : getpwnam(tok);
			struct group *gr = groups ? getgrnam(tok) : NULL;

			if (pw == NULL && gr == NULL) {
				log_error("[access] %s: no such %s '%s'", key,
				    groups ? "group" : "user", tok);
				bad++;
				continue;
			}
			n = groups ? gr->gr_gid : pw->pw_uid;
		}
		if ((ids = realloc(l->ids, (l->n + 1) * sizeof(*ids))) == NULL) {
			free(copy);
			return -1;
		}
		l->ids = ids;
		l->ids[l->n++] = (unsigned)n;
	}
	free(copy);
	return bad ? -1 : 0;
}

/* Who procctld was started as: its user is an admin, and a root daemon
 * serves everyone the socket lets in.  Taken at the first load, before
 * the server drops root to server_user (who is nobody's admin). */
static uid_t self_uid = (uid_t)-1;

uid_t
access_self_uid(void)
{
	return self_uid != (uid_t)-1 ? self_uid : geteuid();
}

int
access_load(const struct config *c)
{
	struct policy p;
	int bad = 0;

	if (self_uid == (uid_t)-1)
		self_uid = geteuid();
	memset(&p, 0, sizeof(p));
	if (c->allow_users != NULL)
		bad |= idlist_parse(&p.allow_users, c->allow_users, 0,
		    "allow_users");
	if (c->allow_groups != NULL)
		bad |= idlist_parse(&p.allow_groups, c->allow_groups, 1,
		    "allow_groups");
	if (c->admin_users != NULL)
		bad |= idlist_parse(&p.admin_users, c->admin_users, 0,
		    "admin_users");
	if (c->admin_groups != NULL)
		bad |= idlist_parse(&p.admin_groups, c->admin_groups, 1,
		    "admin_groups");
	if (bad) {
		policy_free(&p);
		return -1;
	}
	policy_free(&active);
	active = p;
	generation++;
	return 0;
}

unsigned
access_generation(void)
{
	return generation;
}

void
access_free(void)
{
	policy_free(&active);
}

static int
in_groups(const struct idlist *l, gid_t gid, const gid_t *groups,
    size_t ngroups)
{
	size_t i;

	if (!l->set)
		return 0;
	if (idlist_has(l, gid))
		return 1;
	for (i = 0; i < ngroups; i++)
		if (idlist_has(l, groups[i]))
			return 1;
	return 0;
}

int
access_decide(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
    int *admin)
{
	const struct policy *p = &active;
	int allowed;

	*admin = uid == 0 || uid == self_uid ||
	    (p->admin_users.set && idlist_has(&p->admin_users, uid)) ||
	    in_groups(&p->admin_groups, gid, groups, ngroups);
	if (*admin)
		return 1;
	if (p->allow_users.set || p->allow_groups.set)
		allowed = (p->allow_users.set &&
		    idlist_has(&p->allow_users, uid)) ||
		    in_groups(&p->allow_groups, gid, groups, ngroups);
	else
		/* No policy: a root daemon serves everyone the socket's mode
		 * lets in; a user's daemon serves that user (and root). */
		allowed = self_uid == 0;
	return allowed;
}

int
access_groups_of(const char *user, gid_t gid, gid_t **out, size_t *n)
{
	int ng = 32, cap;
	gid_t *g = NULL, *more;

	for (;;) {
		cap = ng;
		if ((more = realloc(g, (size_t)cap * sizeof(*g))) == NULL) {
			free(g);
			return -1;
		}
		g = more;
		if (getgrouplist(user, gid, g, &ng) != -1)
			break;
		if (ng <= cap)
			ng = cap * 2;
		if (ng > 65536) {
			free(g);
			return -1;
		}
	}
	*out = g;
	*n = (size_t)ng;
	return 0;
}

/* Who may change what ST describes: only root or procctld's own user
 * (not server_user: the server runs what the file says, but nobody may
 * change it who is not root or procctld's owner).  WHAT names it in
 * WHY: "it", "the directory /etc". */
static int
unsafe_owner_or_mode(const struct stat *st, int dir, const char *what,
    char *why, size_t size)
{
	if (st->st_uid != 0 && st->st_uid != access_self_uid()) {
		snprintf(why, size, "%s is owned by uid %u, not by root or the "
		    "daemon's user", what, (unsigned)st->st_uid);
		return -1;
	}
	/* A sticky directory (like /tmp) lets nobody replace another's
	 * entry; the entry's own check then decides. */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(dir && (st->st_mode & S_ISVTX))) {
		snprintf(why, size, "%s is writable by %s (mode %04o)", what,
		    st->st_mode & S_IWOTH ? "others" : "its group",
		    (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * Could anyone but root or procctld's user have written the regular
 * file REAL (a real path), or a directory above it (what a plugin runs,
 * what a drop-in makes the monitor run as root)?  0 if not; else -1 and
 * WHY says what ("it is writable by others (mode 0666)", "the directory
 * /srv is owned by uid 1000, ...").
 */
int
access_unsafe_path(const char *real, char *why, size_t size)
{
	char dir[PATH_MAX], what[PATH_MAX + 16], *slash;
	struct stat st;

	if (stat(real, &st) == -1) {
		snprintf(why, size, "%s", strerror(errno));
		return -1;
	}
	if (unsafe_owner_or_mode(&st, 0, "it", why, size) == -1)
		return -1;
	snprintf(dir, sizeof(dir), "%s", real);
	while ((slash = strrchr(dir, '/')) != NULL) {
		slash[slash == dir ? 1 : 0] = '\0';
		snprintf(what, sizeof(what), "the directory %s", dir);
		if (stat(dir, &st) == -1) {
			snprintf(why, size, "%s: %s", what, strerror(errno));
			return -1;
		}
		if (unsafe_owner_or_mode(&st, 1, what, why, size) == -1)
			return -1;
		if (slash == dir)
			break;
	}
	return 0;
}
