/*
 * The monitor's own interfaces, between monitor.c (the loop and the
 * message set), spawn.c (starting a process in a clean context) and
 * cgroup.c (one cgroup v2 directory per process).  Nothing outside
 * monitor/ includes this file.
 */
#ifndef PROCCTL_MON_H
#define PROCCTL_MON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "monitor.h"

/* A MON_SPAWN message taken apart; the strings point into the message. */
struct spawn_req {
	struct mon_spawn	 s;
	char			*user;
	char			*cwd;
	char			**argv;		/* argc + 1, owned array */
	char			**env;		/* envc + 1, owned array */
};

/* spawn.c */
int	spawn_parse(char *, size_t, struct spawn_req *);
void	spawn_free(struct spawn_req *);
pid_t	spawn_start(const struct spawn_req *, int, int *, int *);

/* cgroup.c */
int	cgroup_init(void);
void	cgroup_fini(void);
int	cgroup_leaf(uint64_t);
int	cgroup_open(uint64_t);
void	cgroup_remove(int, uint64_t);
int	cgroup_events(int);
int	cgroup_populated(int);
void	cgroup_kill(int);
void	cgroup_signal(int, int);

/* monitor.c */
void	mon_log(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
