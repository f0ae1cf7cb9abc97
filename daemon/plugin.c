/*
 * Plugin loading and the host services table.  A plugin that fails in any
 * way (cannot be opened, lacks the symbol, wrong ABI, init refuses) costs
 * one log line naming the file and the reason; the daemon goes on.
 *
 * Each plugin owns a copy of its configuration section for as long as it
 * is loaded.  The host reads a member a plugin-side structure gained in
 * minor N only from plugins that declare minor >= N (sudo's rule).
 *
 * A plugin's code can be closed while the daemon runs (PLUGIN RELOAD), so
 * everything that calls into it -- commands, fd and child watchers,
 * hooks, timers, its processes' callbacks -- is recorded with its owner
 * and dropped with it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procctld.h"

struct procctl_plugin {
	char				*name;		/* owned */
	char				*path;		/* owned */
	void				*handle;
	const struct procctl_plugin_decl *decl;
	struct kv			*kv;		/* owned: its section */
	size_t				 nkv;
	char				*file;		/* owned: the drop-in
							 * its section is in,
							 * or NULL */
	procctl_reload_fn		 reload;	/* on_reload's */
	void				*reload_arg;
	procctl_adopt_fn		 adopt;		/* on_adopt's */
	procctl_child_fn		 adopt_ended;
	procctl_notify_fn		 adopt_notify;	/* on_notify's */
	void				*adopt_arg;
	procctl_metrics_fn		 metrics;	/* on_metrics's */
	void				*metrics_arg;
	dev_t				 dev;		/* the file loaded */
	ino_t				 ino;
	struct procctl_plugin		*next;
};

/* An fd or child watcher a plugin asked for. */
struct pwatch {
	int			 fd;
	struct watch		*w;
	struct procctl_plugin	*owner;
	procctl_fd_fn		 fn;
	procctl_child_fn	 child_fn;
	void			*arg;
	struct pwatch		*next;
};

/* A timer a plugin asked for. */
struct ptimer {
	uint64_t		 id;		/* the loop's */
	struct procctl_plugin	*owner;
	procctl_timer_fn	 fn;
	void			*arg;
	struct ptimer		*prev, *next;
};

enum hook_kind { HOOK_DISCONNECT, HOOK_SESSION, HOOK_UNFOLLOW };

struct hook {
	enum hook_kind		 kind;
	struct procctl_plugin	*owner;
	procctl_conn_fn		 fn;
	void			*arg;
	struct hook		*next;
};

static struct procctl_plugin *plugins;	/* load order */
static struct pwatch *pwatches;
static struct ptimer *ptimers;
static struct hook *hooks;

/* What a reloaded plugin's fini kept for its next instance (host->keep),
 * until an init of that name has returned 0: a reload whose new file
 * fails keeps them for the `plugin load` that follows. */
static struct {
	char	*name;		/* owned; NULL: nothing kept */
	void	*data;		/* owned */
	size_t	 len;
} kept;
static struct procctl_plugin *retiring;	/* its fini runs for a reload */
static char *conf_file;		/* owned: re-read by PLUGIN LOAD */
static struct config_text conf_text;	/* its bytes and its drop-ins', as
					 * last read; none when they could
					 * not be */

/* PLUGIN LOAD requests waiting for the monitor to read the file. */
struct pending_load {
	struct procctl_ctx	*ctx;		/* deferred */
	char			*name;		/* owned */
	struct pending_load	*next;
};
static struct pending_load *pending, **pending_tail = &pending;

#define COOKIE_PLUGIN_LOAD	2	/* children_reload()'s, for us */
static char *plugin_dir;	/* owned */

static int
host_register(struct procctl_plugin *self, const struct procctl_command *c)
{
	return command_add(c, self->decl->abi_minor, 0, self, self->name);
}

static const char *
host_config_get(struct procctl_plugin *self, const char *key)
{
	size_t i;

	for (i = 0; i < self->nkv; i++)
		if (strcmp(self->kv[i].key, key) == 0)
			return self->kv[i].value;
	return NULL;
}

/* KEYS (NULL-terminated) are every key [plugin:NAME] may have, besides
 * path: each other one is reported as a typo, with its line. */
static int
host_config_keys(struct procctl_plugin *self, const char *const *keys)
{
	size_t i, k;

	if (keys == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < self->nkv; i++) {
		for (k = 0; keys[k] != NULL; k++)
			if (strcmp(self->kv[i].key, keys[k]) == 0)
				break;
		if (keys[k] == NULL)
			log_warn("%s:%d: unknown key '%s' in [plugin:%s], "
			    "ignored", self->file != NULL ? self->file :
			    conf_file != NULL ? conf_file : "configuration",
			    self->kv[i].line,
			    self->kv[i].key, self->name);
	}
	return 0;
}

static void
host_log(struct procctl_plugin *self, int level, const char *fmt, ...)
{
	char prefix[96];
	va_list ap;

	if (level < PROCCTL_LOG_ERROR)
		level = PROCCTL_LOG_ERROR;
	if (level > PROCCTL_LOG_DEBUG)
		level = PROCCTL_LOG_DEBUG;
	snprintf(prefix, sizeof(prefix), "%s", self->name);
	va_start(ap, fmt);
	log_vmsg(level, prefix, fmt, ap);
	va_end(ap);
}

static const struct procctl_caller *
host_caller(struct procctl_ctx *ctx)
{
	static const struct procctl_caller gone = { 0, (uid_t)-1, (gid_t)-1,
	    -1, "?", 0, 0, 0 };

	return ctx != NULL && ctx->caller != NULL ? ctx->caller : &gone;
}

static uint64_t
host_spawn(struct procctl_plugin *self, const struct procctl_spawn *spec,
    procctl_started_fn started, procctl_child_fn ended, void *arg)
{
	/* A spec from a later minor is read only as far as we know it;
	 * one from minor 2 ends before the tag. */
	if (spec == NULL || spec->size < offsetof(struct procctl_spawn, tag))
		return 0;
	return children_spawn(self, self->name, spec, started, ended, arg);
}

static int
host_signal(struct procctl_plugin *self, uint64_t handle, int signo,
    unsigned flags)
{
	return children_signal(self, handle, signo, flags);
}

static const char *
host_option(struct procctl_ctx *ctx, const char *name)
{
	return ctx != NULL ? args_option(ctx->cmd, ctx->args, name) : NULL;
}

static const char *
host_option_at(struct procctl_ctx *ctx, const char *name, size_t index)
{
	return ctx != NULL ? args_option_at(ctx->cmd, ctx->args, name, index) :
	    NULL;
}

static void
ptimer_unlink(struct ptimer *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		ptimers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	free(t);
}

static void
on_timer(void *arg)
{
	struct ptimer *t = arg;
	procctl_timer_fn fn = t->fn;
	void *farg = t->arg;

	ptimer_unlink(t);	/* frees t: copied what we need */
	fn(farg);
}

static uint64_t
host_timer_add(struct procctl_plugin *self, uint64_t ms, procctl_timer_fn fn,
    void *arg)
{
	struct ptimer *t;

	if (fn == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return 0;
	t->owner = self;
	t->fn = fn;
	t->arg = arg;
	if ((t->id = loop_timer_add(ms, on_timer, t)) == 0) {
		free(t);
		return 0;
	}
	if ((t->next = ptimers) != NULL)
		ptimers->prev = t;
	ptimers = t;
	return t->id;
}

/* Pending timers are few next to what they wait for (as in loop.c): a
 * scan is enough. */
static void
host_timer_cancel(struct procctl_plugin *self, uint64_t id)
{
	struct ptimer *t;

	for (t = ptimers; t != NULL; t = t->next)
		if (t->id == id && t->owner == self) {
			loop_timer_cancel(id);
			ptimer_unlink(t);
			return;
		}
}

/* The timers P left: they must never call into its closed code. */
static void
ptimers_drop(struct procctl_plugin *p)
{
	struct ptimer *t, *next;
	size_t n = 0;

	for (t = ptimers; t != NULL; t = next) {
		next = t->next;
		if (t->owner == p) {
			loop_timer_cancel(t->id);
			ptimer_unlink(t);
			n++;
		}
	}
	if (n > 0)
		log_debug("plugin %s: %zu timer%s it left cancelled", p->name,
		    n, n == 1 ? "" : "s");
}

static struct pwatch *
pwatch_find(struct procctl_plugin *self, int fd, struct pwatch ***link)
{
	struct pwatch **pp, *p;

	for (pp = &pwatches; (p = *pp) != NULL; pp = &p->next)
		if (p->fd == fd && p->owner == self) {
			if (link)
				*link = pp;
			return p;
		}
	return NULL;
}

static void
pwatch_drop(struct procctl_plugin *self, int fd)
{
	struct pwatch **link, *p;

	if ((p = pwatch_find(self, fd, &link)) == NULL)
		return;
	*link = p->next;
	loop_unwatch(p->w);
	free(p);
}

static void
on_fd(int fd, unsigned events, void *arg)
{
	struct pwatch *p = arg;

	p->fn(fd, events, p->arg);
}

static int
add_watch(struct procctl_plugin *self, int fd, unsigned events,
    loop_fd_fn cb, procctl_fd_fn fn, procctl_child_fn cfn, void *arg)
{
	struct pwatch *p;

	if (pwatch_find(self, fd, NULL) != NULL) {
		log_error("plugin %s: fd %d is already watched", self->name,
		    fd);
		return -1;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->fd = fd;
	p->owner = self;
	p->fn = fn;
	p->child_fn = cfn;
	p->arg = arg;
	if ((p->w = loop_watch(fd, events, cb, p)) == NULL) {
		free(p);
		return -1;
	}
	p->next = pwatches;
	pwatches = p;
	return 0;
}

static int
host_watch_fd(struct procctl_plugin *self, int fd, unsigned events,
    procctl_fd_fn fn, void *arg)
{
	return add_watch(self, fd, events, on_fd, fn, NULL, arg);
}

static void
host_unwatch_fd(struct procctl_plugin *self, int fd)
{
	pwatch_drop(self, fd);
}

static void
on_child(int fd, unsigned events, void *arg)
{
	struct pwatch *p = arg;
	struct procctl_exit ex;
	procctl_child_fn fn = p->child_fn;
	void *farg = p->arg;
	siginfo_t si;

	(void)events;
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		log_error("plugin %s: waitid on pidfd %d: %s", p->owner->name,
		    fd, strerror(errno));
		memset(&si, 0, sizeof(si));
		si.si_code = CLD_KILLED;
	} else if (si.si_pid == 0) {
		return;		/* not ended yet */
	}
	memset(&ex, 0, sizeof(ex));
	ex.pid = si.si_pid;
	if (si.si_code == CLD_EXITED) {
		ex.code = si.si_status;
	} else {
		ex.code = -1;
		ex.signal = si.si_status;
		ex.core_dumped = si.si_code == CLD_DUMPED;
	}
	pwatch_drop(p->owner, fd);	/* frees p: copied what we need */
	fn(&ex, farg);
}

static int
host_watch_child(struct procctl_plugin *self, int pidfd, procctl_child_fn fn,
    void *arg)
{
	return add_watch(self, pidfd, LOOP_READ, on_child, NULL, fn, arg);
}

static void
host_unwatch_child(struct procctl_plugin *self, int pidfd)
{
	pwatch_drop(self, pidfd);
}

static struct procctl_ctx *
host_push_begin(struct procctl_plugin *self, uid_t uid)
{
	(void)self;
	return push_begin(uid, 0);
}

static struct procctl_ctx *
host_push_begin_conn(struct procctl_plugin *self, uint64_t conn_id)
{
	(void)self;
	return conn_id != 0 ? push_begin((uid_t)-1, conn_id) : NULL;
}

static int
add_hook(struct procctl_plugin *self, enum hook_kind kind,
    procctl_conn_fn fn, void *arg)
{
	struct hook *h;

	if (fn == NULL || (h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->kind = kind;
	h->owner = self;
	h->fn = fn;
	h->arg = arg;
	h->next = hooks;
	hooks = h;
	return 0;
}

static int
host_on_disconnect(struct procctl_plugin *self, procctl_conn_fn fn, void *arg)
{
	return add_hook(self, HOOK_DISCONNECT, fn, arg);
}

static int
host_on_session(struct procctl_plugin *self, procctl_conn_fn fn, void *arg)
{
	return add_hook(self, HOOK_SESSION, fn, arg);
}

static int
host_on_unfollow(struct procctl_plugin *self, procctl_conn_fn fn, void *arg)
{
	return add_hook(self, HOOK_UNFOLLOW, fn, arg);
}

static void
run_hooks(enum hook_kind kind, const struct procctl_caller *who)
{
	struct hook *h;

	for (h = hooks; h != NULL; h = h->next)
		if (h->kind == kind)
			h->fn(who, h->arg);
}

void
plugin_run_disconnect(const struct procctl_caller *who)
{
	run_hooks(HOOK_DISCONNECT, who);
}

void
plugin_run_session(const struct procctl_caller *who)
{
	run_hooks(HOOK_SESSION, who);
}

void
plugin_run_unfollow(const struct procctl_caller *who)
{
	run_hooks(HOOK_UNFOLLOW, who);
}

static int
host_on_metrics(struct procctl_plugin *self, procctl_metrics_fn fn,
    void *arg)
{
	if (fn == NULL)
		return -1;
	self->metrics = fn;
	self->metrics_arg = arg;
	return 0;
}

void
plugin_run_metrics(struct procctl_metrics *m)
{
	struct procctl_plugin *p;

	for (p = plugins; p != NULL; p = p->next) {
		if (p->metrics == NULL)
			continue;
		expo_set_owner(m, p->name);
		p->metrics(m, p->metrics_arg);
	}
}

static int
host_on_adopt(struct procctl_plugin *self, procctl_adopt_fn adopt,
    procctl_child_fn ended, void *arg)
{
	if (adopt == NULL || ended == NULL)
		return -1;
	self->adopt = adopt;
	self->adopt_ended = ended;
	self->adopt_arg = arg;
	return 0;
}

static size_t
host_output_tail(struct procctl_plugin *self, uint64_t handle, size_t n,
    unsigned streams, procctl_line_fn fn, void *arg)
{
	(void)self;
	return fn != NULL ? output_tail(handle, n, streams, fn, arg) : 0;
}

static uint64_t
host_output_follow(struct procctl_plugin *self, uint64_t handle,
    unsigned streams, procctl_line_fn fn, void *arg)
{
	(void)self;
	return fn != NULL ? output_follow(handle, streams, fn, arg) : 0;
}

static void
host_output_unfollow(struct procctl_plugin *self, uint64_t id)
{
	(void)self;
	output_unfollow(id);
}

static int
host_output_to_file(struct procctl_plugin *self, uint64_t handle,
    const char *path, uint64_t max, unsigned backups)
{
	(void)self;
	if (path == NULL) {
		errno = EINVAL;
		return -1;
	}
	return output_to_file(handle, path, max, backups);
}

static int
host_output_ring(struct procctl_plugin *self, uint64_t handle, size_t bytes)
{
	(void)self;
	return output_set_ring(handle, bytes);
}

static int
host_output_to_log(struct procctl_plugin *self, uint64_t handle,
    const char *who)
{
	(void)self;
	if (who == NULL) {
		errno = EINVAL;
		return -1;
	}
	return output_to_log(handle, who);
}

static int
host_output_to_journal(struct procctl_plugin *self, uint64_t handle,
    const char *ident, pid_t pid)
{
	(void)self;
	if (ident == NULL) {
		errno = EINVAL;
		return -1;
	}
	return output_to_journal(handle, ident, pid);
}

static int
host_on_notify(struct procctl_plugin *self, procctl_notify_fn fn)
{
	self->adopt_notify = fn;
	return 0;
}

/* The monitor's MON_ADOPT, for the plugin named OWNER (children.c). */
static int
adopt(const char *owner, const struct procctl_adopted *a, const void **who,
    procctl_child_fn *ended, procctl_notify_fn *notify, void **arg)
{
	struct procctl_plugin *p;
	void *v;

	for (p = plugins; p != NULL; p = p->next)
		if (strcmp(p->name, owner) == 0)
			break;
	if (p == NULL || p->adopt == NULL ||
	    (v = p->adopt(a, p->adopt_arg)) == NULL)
		return -1;
	*who = p;
	*ended = p->adopt_ended;
	*notify = p->adopt_notify;
	*arg = v;
	return 0;
}

/* [kind:name] sections, as the configuration had them at start. */
static struct plugin_conf *sections;
static size_t nsections;

static void
sections_free(void)
{
	config_sections_free(sections, nsections);
	sections = NULL;
	nsections = 0;
}

static int
sections_copy(const struct config *c)
{
	size_t i, j;

	sections_free();
	if (c->nsections == 0)
		return 0;
	if ((sections = calloc(c->nsections, sizeof(*sections))) == NULL)
		return -1;
	nsections = c->nsections;
	for (i = 0; i < nsections; i++) {
		sections[i].line = c->sections[i].line;
		if ((c->sections[i].file != NULL && (sections[i].file =
		    strdup(c->sections[i].file)) == NULL) ||
		    (sections[i].name = strdup(c->sections[i].name)) == NULL ||
		    (c->sections[i].nkv > 0 && (sections[i].kv = calloc(
		    c->sections[i].nkv, sizeof(struct kv))) == NULL))
			return -1;
		for (j = 0; j < c->sections[i].nkv; j++) {
			sections[i].kv[j].line = c->sections[i].kv[j].line;
			if ((sections[i].kv[j].key =
			    strdup(c->sections[i].kv[j].key)) == NULL ||
			    (sections[i].kv[j].value =
			    strdup(c->sections[i].kv[j].value)) == NULL)
				return -1;
			sections[i].nkv++;
		}
	}
	return 0;
}

/* The INDEX-th section "KIND:NAME": its NAME. */
static const char *
host_section(struct procctl_plugin *self, const char *kind, size_t index,
    int *line)
{
	size_t i, k = strlen(kind);

	(void)self;
	for (i = 0; i < nsections; i++)
		if (strncmp(sections[i].name, kind, k) == 0 &&
		    sections[i].name[k] == ':' && index-- == 0) {
			if (line != NULL)
				*line = sections[i].line;
			return sections[i].name + k + 1;
		}
	return NULL;
}

static int
host_section_kv(struct procctl_plugin *self, const char *kind,
    const char *name, size_t index, const char **key, const char **value,
    int *line)
{
	size_t i, k = strlen(kind);

	(void)self;
	for (i = 0; i < nsections; i++)
		if (strncmp(sections[i].name, kind, k) == 0 &&
		    sections[i].name[k] == ':' &&
		    strcmp(sections[i].name + k + 1, name) == 0) {
			if (index >= sections[i].nkv)
				return -1;
			*key = sections[i].kv[index].key;
			*value = sections[i].kv[index].value;
			if (line != NULL)
				*line = sections[i].kv[index].line;
			return 0;
		}
	return -1;
}

static const char *
main_file(void)
{
	return conf_file != NULL ? conf_file : "built-in defaults";
}

/* The file the plugin's own [plugin:NAME] section is in. */
static const char *
host_config_file(struct procctl_plugin *self)
{
	return self->file != NULL ? self->file : main_file();
}

static const char *
host_section_file(struct procctl_plugin *self, const char *kind,
    size_t index)
{
	size_t i, k = strlen(kind);

	for (i = 0; i < nsections; i++)
		if (strncmp(sections[i].name, kind, k) == 0 &&
		    sections[i].name[k] == ':' && index-- == 0)
			return sections[i].file != NULL ? sections[i].file :
			    main_file();
	return NULL;
}

/* A reload's list of changes, as plugins describe them. */
struct procctl_report {
	char		**lines;
	size_t		  n;
};

static int
host_on_reload(struct procctl_plugin *self, procctl_reload_fn fn, void *arg)
{
	self->reload = fn;
	self->reload_arg = arg;
	return 0;
}

void
plugin_report_note(struct procctl_report *r, const char *fmt, ...)
{
	char *line, **grown;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) == -1)
		line = NULL;
	va_end(ap);
	if (line == NULL || r == NULL ||
	    (grown = realloc(r->lines, (r->n + 1) * sizeof(*grown))) == NULL) {
		free(line);
		return;
	}
	r->lines = grown;
	r->lines[r->n++] = line;
}

static void
kept_drop(void)
{
	free(kept.name);
	free(kept.data);
	memset(&kept, 0, sizeof(kept));
}

/* Only the fini of a plugin being reloaded keeps anything: at any other
 * time there is no next instance to read it. */
static int
host_keep(struct procctl_plugin *self, const void *p, size_t len)
{
	void *copy = NULL;
	char *name;

	if (self != retiring || (len > 0 && p == NULL))
		return -1;
	if ((len > 0 && (copy = malloc(len)) == NULL) ||
	    (name = strdup(self->name)) == NULL) {
		free(copy);
		log_error("plugin %s: out of memory to keep %zu bytes for its "
		    "next instance", self->name, len);
		return -1;
	}
	if (len > 0)
		memcpy(copy, p, len);
	kept_drop();
	kept.name = name;
	kept.data = copy;
	kept.len = len;
	return 0;
}

static const void *
host_kept(struct procctl_plugin *self, size_t *len)
{
	int mine = kept.name != NULL && strcmp(kept.name, self->name) == 0 &&
	    kept.len > 0;

	if (len != NULL)
		*len = mine ? kept.len : 0;
	return mine ? kept.data : NULL;
}

static const struct procctl_host host = {
	.abi_major = PROCCTL_ABI_MAJOR,
	.abi_minor = PROCCTL_ABI_MINOR,
	.size = sizeof(struct procctl_host),
	.register_command = host_register,
	.config_get = host_config_get,
	.log = host_log,
	.reply_simple = reply_simple,
	.reply_error = reply_error,
	.reply_int = reply_int,
	.reply_double_text = reply_double_text,
	.reply_double = reply_double,
	.reply_bignum = reply_bignum,
	.reply_bulk = reply_bulk,
	.reply_str = reply_str,
	.reply_null = reply_null,
	.reply_bool = reply_bool,
	.reply_array = reply_array,
	.reply_map = reply_map,
	.caller = host_caller,
	.defer = reply_defer,
	.finish = reply_finish,
	.timer_add = host_timer_add,
	.timer_cancel = host_timer_cancel,
	.watch_fd = host_watch_fd,
	.unwatch_fd = host_unwatch_fd,
	.watch_child = host_watch_child,
	.unwatch_child = host_unwatch_child,
	.push_begin = host_push_begin,
	.push_end = push_end,
	.on_disconnect = host_on_disconnect,
	.push_begin_conn = host_push_begin_conn,
	.option = host_option,
	.spawn = host_spawn,
	.signal = host_signal,
	.option_at = host_option_at,
	.on_adopt = host_on_adopt,
	.on_session = host_on_session,
	.section = host_section,
	.section_kv = host_section_kv,
	.config_file = host_config_file,
	.on_reload = host_on_reload,
	.section_file = host_section_file,
	.on_notify = host_on_notify,
	.output_tail = host_output_tail,
	.output_follow = host_output_follow,
	.output_unfollow = host_output_unfollow,
	.output_to_file = host_output_to_file,
	.output_ring = host_output_ring,
	.output_to_log = host_output_to_log,
	.output_to_journal = host_output_to_journal,
	.config_keys = host_config_keys,
	.note = plugin_report_note,
	.keep = host_keep,
	.kept = host_kept,
	.on_unfollow = host_on_unfollow,
	.reply_room = reply_room,
	.on_metrics = host_on_metrics,
	.metric_family = expo_plugin_family,
	.metric_sample = expo_sample,
};

/* Drop everything a plugin registered (on failed init, on unload, on
 * reload).  Its processes are killed, or with HOLD held for its next
 * instance. */
static void
plugin_forget(struct procctl_plugin *p, int hold)
{
	struct pwatch **pp, *w;
	struct hook **hp, *h;

	command_remove_owner(p);
	p->metrics = NULL;
	if (hold)
		children_hold_owner(p, p->name);
	else
		children_forget_owner(p);
	ptimers_drop(p);
	for (pp = &pwatches; (w = *pp) != NULL;) {
		if (w->owner == p) {
			*pp = w->next;
			loop_unwatch(w->w);
			free(w);
		} else
			pp = &w->next;
	}
	for (hp = &hooks; (h = *hp) != NULL;) {
		if (h->owner == p) {
			*hp = h->next;
			free(h);
		} else
			hp = &h->next;
	}
}

static void
plugin_free(struct procctl_plugin *p)
{
	size_t i;

	if (p->handle != NULL)
		dlclose(p->handle);
	for (i = 0; i < p->nkv; i++) {
		free(p->kv[i].key);
		free(p->kv[i].value);
	}
	free(p->kv);
	free(p->name);
	free(p->path);
	free(p->file);
	free(p);
}

/* The plugin's own copy of its section's keys. */
static int
copy_section(struct procctl_plugin *p, const struct plugin_conf *conf)
{
	size_t i;

	if (conf != NULL && conf->file != NULL &&
	    (p->file = strdup(conf->file)) == NULL)
		return -1;
	if (conf == NULL || conf->nkv == 0)
		return 0;
	if ((p->kv = calloc(conf->nkv, sizeof(*p->kv))) == NULL)
		return -1;
	for (i = 0; i < conf->nkv; i++) {
		p->kv[i].line = conf->kv[i].line;
		p->kv[i].key = strdup(conf->kv[i].key);
		p->kv[i].value = strdup(conf->kv[i].value);
		p->nkv++;
		if (p->kv[i].key == NULL || p->kv[i].value == NULL)
			return -1;
	}
	return 0;
}

/* Members of the declaration a plugin of D's minor has, and their size. */
static const char *
bad_decl(const struct procctl_plugin_decl *d)
{
	if (d->abi_major != PROCCTL_ABI_MAJOR ||
	    d->abi_minor > PROCCTL_ABI_MINOR)
		return "abi";
	if (d->init == NULL)
		return "init";
	if (d->abi_minor >= 1 && d->size < offsetof(struct procctl_plugin_decl,
	    size) + sizeof(d->size))
		return "size";
	return NULL;
}

/*
 * As sudo does for its plugins: refuse a file that anyone but root or the
 * daemon's user could have written, or that sits in a directory they
 * could write.  RESOLVED gets the real path, which is what is loaded.
 */
static int
plugin_file_safe(const char *name, const char *path, char *resolved)
{
	char why[PATH_MAX + 160];
	struct stat st;

	if (realpath(path, resolved) == NULL) {
		log_error("plugin %s: cannot load %s: %s", name, path,
		    strerror(errno));
		return 0;
	}
	if (stat(resolved, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_error("plugin %s: %s is not a regular file; not loaded",
		    name, resolved);
		return 0;
	}
	if (access_unsafe_path(resolved, why, sizeof(why)) == 0)
		return 1;
	log_error("plugin %s: refusing %s: %s; only root or the daemon's user "
	    "may be able to change a plugin", name, resolved, why);
	return 0;
}

/* HANDLE's declaration, if it is one this host can load: else NULL,
 * after logging why. */
static const struct procctl_plugin_decl *
plugin_decl(const char *name, const char *path, void *handle)
{
	const struct procctl_plugin_decl *d;
	const char *why;

	if ((d = dlsym(handle, PROCCTL_PLUGIN_SYMBOL)) == NULL) {
		log_error("plugin %s: %s has no '%s' symbol: not a procctl "
		    "plugin", name, path, PROCCTL_PLUGIN_SYMBOL);
		return NULL;
	}
	if ((why = bad_decl(d)) == NULL)
		return d;
	if (strcmp(why, "abi") == 0)
		log_error("plugin %s: %s was built for plugin ABI %u.%u; this "
		    "procctld provides %u.%u", name, path, d->abi_major,
		    d->abi_minor, PROCCTL_ABI_MAJOR, PROCCTL_ABI_MINOR);
	else if (strcmp(why, "init") == 0)
		log_error("plugin %s: %s declares no init function", name,
		    path);
	else
		log_error("plugin %s: %s declares ABI %u.%u but its "
		    "declaration is only %zu bytes", name, path, d->abi_major,
		    d->abi_minor, d->size);
	return NULL;
}

static int
plugin_load(const char *name, const char *path, const struct plugin_conf *conf)
{
	const struct procctl_plugin_decl *d;
	struct procctl_plugin *p, **tail;
	char real[PATH_MAX];
	struct stat st;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(name)) == NULL ||
	    (p->path = strdup(path)) == NULL ||
	    copy_section(p, conf) == -1) {
		log_error("plugin %s: out of memory", name);
		goto fail;
	}
	for (tail = &plugins; *tail != NULL; tail = &(*tail)->next)
		if (strcmp((*tail)->name, name) == 0) {
			log_error("plugin %s (%s): a plugin of that name is "
			    "already loaded; skipped", name, path);
			goto fail;
		}
	if (!plugin_file_safe(name, path, real))
		goto fail;
	if ((p->handle = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_error("plugin %s: cannot load %s: %s", name, path,
		    dlerror());
		goto fail;
	}
	if ((d = plugin_decl(name, path, p->handle)) == NULL)
		goto fail;
	if (stat(real, &st) == 0) {
		p->dev = st.st_dev;
		p->ino = st.st_ino;
	}
	p->decl = d;
	*tail = p;
	if ((rc = d->init(p, &host)) != 0) {
		log_error("plugin %s: %s refused to initialise; not loaded%s",
		    name, path, rc == PROCCTL_INIT_BAD_CONFIG ? " (its "
		    "configuration is unusable)" : "");
		plugin_forget(p, 0);
		*tail = NULL;
		if (p != NULL)
			plugin_free(p);
		return rc == PROCCTL_INIT_BAD_CONFIG ? -2 : -1;
	}
	if (kept.name != NULL && strcmp(kept.name, name) == 0)
		kept_drop();	/* read by this init, or never to be */
	log_info("plugin %s %s loaded from %s", name,
	    d->version ? d->version : "", path);
	return 0;
fail:
	if (p != NULL)
		plugin_free(p);
	return -1;
}

static int
is_plugin_file(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return n > 3 && de->d_name[0] != '.' &&
	    strcmp(de->d_name + n - 3, ".so") == 0;
}

/* A section's path: absolute, or relative to DIR; none is NAME.so. */
static void
plugin_path(const char *dir, const char *name, const char *rel, char *out,
    size_t size)
{
	if (rel == NULL)
		snprintf(out, size, "%s/%s.so", dir, name);
	else if (rel[0] == '/')
		snprintf(out, size, "%s", rel);
	else
		snprintf(out, size, "%s/%s", dir, rel);
}

int
plugin_load_all(const struct config *c)
{
	struct dirent **list;
	char path[PATH_MAX], name[NAME_MAX + 1];
	size_t i;
	int n, k, loaded = 0, failed = 0, bad_config = 0;

	if (c->load_all) {
		n = scandir(c->plugin_dir, &list, is_plugin_file, alphasort);
		if (n == -1) {
			log_error("plugin directory %s: %s", c->plugin_dir,
			    strerror(errno));
			return 0;
		}
		for (k = 0; k < n; k++) {
			snprintf(name, sizeof(name), "%.*s",
			    (int)strlen(list[k]->d_name) - 3, list[k]->d_name);
			snprintf(path, sizeof(path), "%s/%s", c->plugin_dir,
			    list[k]->d_name);
			if (plugin_load(name, path, NULL) == 0)
				loaded++;
			else
				failed = 1;
			free(list[k]);
		}
		free(list);
		return failed ? -2 : loaded;
	}
	/* A plugin the file names that cannot be loaded, or that refuses to
	 * start: procctld must not start without it, as if the file said
	 * nothing (-2; -1 when its part of the file is unusable). */
	for (i = 0; i < c->nplugins; i++) {
		const struct plugin_conf *pc = &c->plugins[i];

		plugin_path(c->plugin_dir, pc->name, pc->path, path,
		    sizeof(path));
		if ((k = plugin_load(pc->name, path, pc)) == 0)
			loaded++;
		else if (k == -2)
			bad_config = 1;
		else
			failed = 1;
	}
	return bad_config ? -1 : failed ? -2 : loaded;
}

/* How many plugins are loaded. */
size_t
plugin_count(void)
{
	struct procctl_plugin *p;
	size_t n = 0;

	for (p = plugins; p != NULL; p = p->next)
		n++;
	return n;
}

/* P's fini, then out of the list with everything it registered, and
 * its code closed; the caller frees P.  HOLD: for a reload (fini may
 * keep(); its processes are held for the next instance). */
static void
plugin_retire(struct procctl_plugin *p, int hold)
{
	struct procctl_plugin **link;

	retiring = hold ? p : NULL;
	if (p->decl->fini != NULL)
		p->decl->fini(p);
	retiring = NULL;
	plugin_forget(p, hold);
	for (link = &plugins; *link != p; link = &(*link)->next)
		;
	*link = p->next;
	if (p->handle != NULL)
		dlclose(p->handle);
	p->handle = NULL;
}

void
plugin_unload_all(void)
{
	struct procctl_plugin *last;

	/* Reverse load order: later plugins may depend on earlier ones. */
	while (plugins != NULL) {
		for (last = plugins; last->next != NULL; last = last->next)
			;
		plugin_retire(last, 0);
		plugin_free(last);
	}
}

static struct procctl_plugin *
plugin_find(const char *name)
{
	struct procctl_plugin *p;

	for (p = plugins; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/*
 * `plugin load NAME`: its [plugin:NAME] section in the file as it is now
 * (the admin may just have added it), or NAME.so in the plugin directory
 * when the daemon runs without a file.  0, or -1 with ERR set.
 */
static int
valid_name(const char *name, char *err, size_t errlen)
{
	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strlen(name) > NAME_MAX - 3) {
		snprintf(err, errlen, "'%.64s' is not a plugin name", name);
		return -1;
	}
	if (plugin_find(name) != NULL) {
		snprintf(err, errlen, "plugin %.64s is already loaded", name);
		return -1;
	}
	return 0;
}

static int
load_named(const char *name, char *err, size_t errlen)
{
	const struct plugin_conf *pc = NULL;
	struct config c;
	char path[PATH_MAX];
	size_t i;
	int rc = -1;

	if (valid_name(name, err, errlen) == -1)
		return -1;
	config_defaults(&c);
	if (conf_file != NULL) {
		if (conf_text.n == 0 ||
		    config_load_text(&c, &conf_text, 0) == -1) {
			snprintf(err, errlen, "%.200s cannot be used now; see "
			    "the log", conf_file);
			goto done;
		}
		for (i = 0; i < c.nplugins; i++)
			if (strcmp(c.plugins[i].name, name) == 0)
				pc = &c.plugins[i];
		if (pc == NULL) {
			snprintf(err, errlen, "%.200s has no [plugin:%.64s] "
			    "section", conf_file, name);
			goto done;
		}
	}
	plugin_path(plugin_dir, name, pc ? pc->path : NULL, path,
	    sizeof(path));
	if (plugin_load(name, path, pc) != 0) {
		snprintf(err, errlen, "plugin %.64s was not loaded from "
		    "%.200s; the log says why", name, path);
		goto done;
	}
	children_offer(name);
	rc = 0;
done:
	config_free(&c);
	return rc;
}

/*
 * Could plugin OLD be loaded again from the file its path names now?
 * Asked before OLD goes, so that a missing or broken file changes
 * nothing.  dlopen() of the path OLD was loaded from would answer with
 * OLD itself (glibc knows a loaded object by its name, then by its
 * device and inode), so the file is opened here and loaded through
 * /proc/self/fd/N, a name nothing is loaded under: every symbol
 * resolved (RTLD_NOW), the symbol and the declaration checked as at a
 * load, then closed again.  Its init never runs (only what the ELF
 * file itself runs at load, which plugins have no need of): two
 * instances never live together.  The very file OLD came from (same
 * device and inode) was checked when it was loaded.  What only init can
 * tell (its configuration) is learnt after the swap.  0, or -1 after
 * logging why.
 */
static int
reload_probe(const struct procctl_plugin *old)
{
	char real[PATH_MAX], fdpath[64];
	struct stat st;
	void *h;
	int fd, rc = -1;

	if (!plugin_file_safe(old->name, old->path, real))
		return -1;
	if ((fd = open(real, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_error("plugin %s: cannot load %s: %s", old->name, real,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_dev == old->dev && st.st_ino == old->ino) {
		close(fd);
		return 0;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if ((h = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL)) == NULL)
		log_error("plugin %s: cannot load %s: %s", old->name, real,
		    dlerror());
	else {
		rc = plugin_decl(old->name, real, h) != NULL ? 0 : -1;
		dlclose(h);
	}
	close(fd);
	return rc;
}

/*
 * PLUGIN RELOAD NAME: the plugin's code replaced with the file now at the
 * path it was loaded from, with the same [plugin:NAME] keys.  Its
 * processes go on: they are held while the old instance goes (its fini
 * may keep() what the next one needs; its commands, watchers, hooks and
 * timers go), and handed to the new one as after a server restart.  0,
 * or -1 with ERR set: nothing has changed when the new file could not
 * be checked; else the processes wait, unclaimed, for `plugin load`.
 */
static int
reload_named(const char *name, char *err, size_t errlen)
{
	struct procctl_plugin *old = plugin_find(name);
	struct plugin_conf conf;
	int rc;

	if (old == NULL) {
		snprintf(err, errlen, "plugin %.64s is not loaded", name);
		return -1;
	}
	if (reload_probe(old) == -1) {
		snprintf(err, errlen, "plugin %.64s: %.200s cannot be loaded; "
		    "nothing changed (the log says why)", name, old->path);
		return -1;
	}
	plugin_retire(old, 1);
	memset(&conf, 0, sizeof(conf));
	conf.name = old->name;
	conf.path = old->path;
	conf.kv = old->kv;
	conf.nkv = old->nkv;
	rc = plugin_load(old->name, old->path, &conf);
	if (rc != 0)
		snprintf(err, errlen, "plugin %.64s: the new %.200s was not "
		    "loaded (the log says why); its processes run on, "
		    "unclaimed, until: plugin load %.64s", old->name,
		    old->path, old->name);
	else
		children_offer(old->name);
	plugin_free(old);
	return rc != 0 ? -1 : 0;
}

static void
reply_list(struct procctl_ctx *ctx)
{
	const struct procctl_plugin *p;
	char abi[32];
	size_t n = 0;

	for (p = plugins; p != NULL; p = p->next)
		n++;
	reply_array(ctx, n);
	for (p = plugins; p != NULL; p = p->next) {
		reply_map(ctx, 5);
		reply_str(ctx, "name");
		reply_str(ctx, p->name);
		reply_str(ctx, "version");
		reply_str(ctx, p->decl->version ? p->decl->version : "");
		reply_str(ctx, "description");
		reply_str(ctx, p->decl->description ? p->decl->description :
		    "");
		reply_str(ctx, "path");
		reply_str(ctx, p->path);
		snprintf(abi, sizeof(abi), "%u.%u", p->decl->abi_major,
		    p->decl->abi_minor);
		reply_str(ctx, "abi");
		reply_str(ctx, abi);
	}
}

/* As plugin_params declares them. */
enum { PLUGIN_LIST, PLUGIN_LOAD, PLUGIN_RELOAD };
static const char *const sub_names[] = { "list", "load", "reload" };

/* Load (or reload) NAME and answer CTX (DEFERRED: finish it too). */
static void
finish_load(struct procctl_ctx *ctx, int sub, const char *name,
    int deferred)
{
	const struct procctl_caller *who = ctx->caller;
	char err[512];

	if ((sub == PLUGIN_RELOAD ? reload_named(name, err, sizeof(err)) :
	    load_named(name, err, sizeof(err))) == -1)
		reply_error(ctx, "ERR", "%s", err);
	else {
		log_info("plugin %s %sed at the request of %s (uid %u)", name,
		    sub_names[sub], who ? who->user : "?",
		    who ? (unsigned)who->uid : 0);
		reply_simple(ctx, "OK");
	}
	if (deferred)
		reply_finish(ctx);
}

static void
cmd_plugin(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = ctx->caller;
	struct procctl_ctx *ctx0 = ctx;
	struct pending_load *pl;
	char err[512];
	int sub;

	/* The declared sub-commands, by their place in "list|load|reload". */
	if ((sub = args_keyword(ctx->cmd, 0, &argv[1])) == PLUGIN_LIST) {
		if (argc != 2) {
			reply_error(ctx, "ARGS", "LIST takes no name; usage: "
			    "%s", ctx->cmd->usage);
			return;
		}
		reply_list(ctx);
		return;
	}
	if (argc != 3) {
		reply_error(ctx, "ARGS", "%s needs a plugin name; usage: %s",
		    sub == PLUGIN_RELOAD ? "RELOAD" : "LOAD", ctx->cmd->usage);
		return;
	}
	if (!who->admin) {
		reply_error(ctx, "NOPERM", "plugin %s is for admins only",
		    sub_names[sub]);
		return;
	}
	/* The path and keys the running instance was loaded with. */
	if (sub == PLUGIN_RELOAD) {
		finish_load(ctx, sub, argv[2].ptr, 0);
		return;
	}
	/* The file as it is now (the admin may just have added the
	 * section): the monitor reads it, since we may not be able to. */
	if (conf_file != NULL && valid_name(argv[2].ptr, err,
	    sizeof(err)) == 0 && (pl = calloc(1, sizeof(*pl))) != NULL) {
		if ((pl->name = strdup(argv[2].ptr)) != NULL &&
		    (pl->ctx = reply_defer(ctx)) != NULL &&
		    children_reload(COOKIE_PLUGIN_LOAD) == 0) {
			*pending_tail = pl;
			pending_tail = &pl->next;
			return;
		}
		if (pl->ctx != NULL)	/* no monitor: the file as last read */
			ctx = pl->ctx;
		free(pl->name);
		free(pl);
	}
	finish_load(ctx, PLUGIN_LOAD, argv[2].ptr, ctx != ctx0);
}

/* The monitor has read the files for the waiting loads (T empty: it
 * could not; the last copy is used). */
void
plugin_host_config_arrived(struct config_text *t)
{
	struct pending_load *pl;

	plugin_host_config(t);
	while ((pl = pending) != NULL) {
		if ((pending = pl->next) == NULL)
			pending_tail = &pending;
		finish_load(pl->ctx, PLUGIN_LOAD, pl->name, 1);
		free(pl->name);
		free(pl);
	}
}

/* The configuration's bytes, as main or the monitor read them. */
void
plugin_host_config(struct config_text *t)
{
	if (t->n == 0)
		return;
	confread_text_free(&conf_text);
	conf_text = *t;
	t->v = NULL;
	t->n = 0;
}

static const struct procctl_param plugin_params[] = {
	{ "list|load|reload", PROCCTL_PARAM_KEYWORD, NULL, 1, 1, 0, NULL,
	  NULL, NULL },
	{ "name", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command plugin_command = {
	"plugin", cmd_plugin, 0,
	"plugin list | plugin load <name> | plugin reload <name>",
	"The loaded plugins; admins load one more from the config, or "
	"reload one from its file on disk (its processes go on)", 0, NULL,
	plugin_params, "daemon"
};

struct procctl_report *
plugin_report_new(void)
{
	return calloc(1, sizeof(struct procctl_report));
}

size_t
plugin_report_lines(const struct procctl_report *r, const char *const **v)
{
	*v = (const char *const *)r->lines;
	return r->n;
}

void
plugin_report_free(struct procctl_report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->lines[i]);
	free(r->lines);
	free(r);
}

/*
 * The configuration C was read again: every plugin sees its new sections
 * (DRY: says what it would do).  All or nothing: if one refuses, the
 * sections go back as they were and -1 is returned.
 */
int
plugin_host_reload(const struct config *c, int dry, struct procctl_report *r)
{
	struct plugin_conf *old = sections;
	size_t nold = nsections;
	struct procctl_plugin *p;
	int rc = 0;

	sections = NULL;
	nsections = 0;
	if (sections_copy(c) == -1)
		rc = -1;
	for (p = plugins; rc == 0 && p != NULL; p = p->next)
		if (p->reload != NULL && p->reload(dry, r, p->reload_arg) == -1)
			rc = -1;
	if (rc == -1 || dry) {
		sections_free();
		sections = old;
		nsections = nold;
	} else {
		struct plugin_conf *keep = sections;
		size_t nkeep = nsections;

		sections = old;
		nsections = nold;
		sections_free();
		sections = keep;
		nsections = nkeep;
	}
	return rc;
}

int
plugin_host_init(const struct config *c)
{
	if (sections_copy(c) == -1)
		return -1;
	free(conf_file);
	free(plugin_dir);
	conf_file = c->file != NULL ? strdup(c->file) : NULL;
	plugin_dir = strdup(c->plugin_dir);
	if ((c->file != NULL && conf_file == NULL) || plugin_dir == NULL)
		return -1;
	children_set_adopter(adopt);
	return command_add(&plugin_command, PROCCTL_ABI_MINOR, 0, NULL,
	    "core");
}

void
plugin_host_fini(void)
{
	struct pending_load *pl;

	while ((pl = pending) != NULL) {	/* their clients are gone */
		pending = pl->next;
		reply_finish(pl->ctx);
		free(pl->name);
		free(pl);
	}
	pending_tail = &pending;
	kept_drop();
	sections_free();
	free(conf_file);
	free(plugin_dir);
	confread_text_free(&conf_text);
	conf_file = plugin_dir = NULL;
}
