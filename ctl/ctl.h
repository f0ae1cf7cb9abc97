/*
 * procctl, the client: one header, sectioned by file as tmux.h is.
 *
 * procctl itself links only libc.  What needs a large library is a module
 * of our own, loaded when it is used (module.c): the TLS transport
 * (tls.so, libssl) and the line editor (edit.so, libreadline).  A module
 * calls nothing in procctl: what it needs comes in through its entry
 * points (struct client, struct target, the editor's hooks), so procctl
 * exports no symbols.  The structures in this header are therefore shared
 * with the modules: change one and bump CTL_MODULE_ABI.
 */
#ifndef PROCCTL_CTL_H
#define PROCCTL_CTL_H

#include <stdio.h>
#include <sys/types.h>

#include "buf.h"
#include "resp.h"

#define PROCCTL_VERSION	"0.1.0"

/* Exit codes (documented in --help and procctl(1)). */
#define EXIT_OK		0
#define EXIT_ERROR	1	/* the daemon answered with an error */
#define EXIT_USAGE	2
#define EXIT_NOENT	3	/* no such process */
#define EXIT_UNAVAIL	69	/* daemon unreachable, connection lost */
#define EXIT_TIMEOUT	75	/* timeout or busy */
#define EXIT_PROTO	76	/* protocol error */
#define EXIT_NOPERM	77	/* permission denied */
#define EXIT_INTERRUPTED 130	/* Ctrl-C ended a follow (128 + SIGINT) */

/* Where to connect: a Unix socket, or TCP with credentials. */
struct target {
	int	 tcp;
	char	 path[108];	/* Unix */
	char	 host[256];	/* TCP */
	char	 port[16];
	char	 user[64];	/* TCP: from the URL, -u, or the login */
	struct tls_opts {
		int	 on;
		char	 cacert[1024];	/* "": the system's CAs */
		char	 cert[1024];	/* client certificate, or "" */
		char	 key[1024];
	} tls;
};

struct client;

/*
 * A transport: how bytes cross a connected socket, as Redis's
 * ConnectionType.  The plain one is in client.c; TLS is the module tls.so
 * (tls.c).  client.c calls these and knows nothing of what is behind them.
 */
struct transport {
	int		 abi;		/* CTL_MODULE_ABI */
	const char	*name;		/* "plain", "tls" */
	/* On the connected socket c->fd: the handshake.  0, or an exit code
	 * with c->why saying what failed. */
	int		(*start)(struct client *c, const struct target *t);
	/* As read(2) and send(2): bytes, 0 at the end, -1 with errno
	 * (EAGAIN: not now; EPIPE: the peer is gone). */
	ssize_t		(*read)(struct client *c, void *p, size_t n);
	ssize_t		(*write)(struct client *c, const void *p, size_t n);
	/* Bytes decrypted but not handed out: read them before polling. */
	int		(*pending)(const struct client *c);
	/* Why the connection failed, for an errno from read or write. */
	const char	*(*error)(const struct client *c, int err);
	/* Release the transport's state (not the socket). */
	void		(*close)(struct client *c);
};

struct client {
	int			 fd;
	int			 quiet;		/* failures only into why */
	const struct transport	*tp;
	void			*tpstate;	/* the transport's; owned */
	struct buf		 in;
	struct resp_scan	 scan;		/* how far `in` is looked at */
	char			 target[300];	/* for messages and the prompt */
	char			 why[512];	/* the last failure, one line */
};

/*
 * The line editor, the module edit.so (edit.c): GNU readline's callback
 * interface, for the shell on a terminal.  The shell runs the poll loop
 * and tells the editor when the terminal has input; the editor calls back
 * with each line and for the candidates of a Tab.
 */
struct edit_hooks {
	/* A line typed (NULL at Ctrl-D).  The callee frees it. */
	void	 (*line)(char *line);
	/* Candidates for the word TEXT that starts at START of LINE: a
	 * NULL-ended array of strings, all owned by the caller (the editor
	 * frees them), or NULL.  *FILES set: offer file names as well. */
	char	**(*complete)(const char *line, int start, const char *text,
		    int *files);
};

struct editor {
	int	 abi;			/* CTL_MODULE_ABI */
	/* Take the terminal.  HISTFILE: "" for no history file. */
	void	 (*start)(const char *prompt, const char *histfile,
		    const struct edit_hooks *hooks);
	void	 (*stop)(void);
	void	 (*input)(void);	/* the terminal has bytes */
	/* Around printing above the prompt: hide the line being typed, then
	 * put it back (with the cursor) as it was. */
	void	 (*hide)(void);
	void	 (*show)(void);
	/* A new prompt; REDRAW: show it now. */
	void	 (*prompt)(const char *prompt, int redraw);
	void	 (*cancel)(void);	/* Ctrl-C: drop the line */
	void	 (*resize)(void);
};

/* Bump when a structure above changes: a module of another build is then
 * refused rather than misread. */
#define CTL_MODULE_ABI		2
#define CTL_TLS_SYMBOL		"procctl_ctl_tls"
#define CTL_EDIT_SYMBOL		"procctl_ctl_edit"

/*
 * The daemon's description of its commands (a command map of
 * docs/protocol.md, "Core commands"), as HELLO and COMMAND send it.
 */
struct strv {
	char	**v;
	size_t	 n;
};

struct cmd_option {
	char		*name;		/* "detach": --detach */
	char		 letter;	/* 'd', or 0 */
	char		*value;		/* NULL for a flag, else "N" */
	char		*summary;
};

struct cmd_param {
	char		*name;		/* "pid|name" */
	char		*type;		/* "word", "keyword", "program", ... */
	struct strv	 words;		/* a keyword's */
	long long	 min, max;	/* occurrences; max 0: any number */
	int		 rest;		/* it and all after it: as they are */
	char		*source;	/* complete.command, or NULL */
	struct strv	 fields;	/* complete.fields */
	struct strv	 events;	/* complete.events */
};

struct cmd_info {
	char		*name;
	char		*usage;
	char		*summary;
	char		*group;		/* "other" when the daemon gave none */
	char		*plugin;	/* "core", "proc", ... or "" */
	long long	 arity;
	int		 admin;
	struct cmd_option *opts;
	size_t		 nopts;
	struct cmd_param *params;	/* NULL: arguments not declared */
	size_t		 nparams;
};

struct cmd_table {
	struct cmd_info	*v;
	size_t		 n;
};

/* client.c */
/* 0, or an exit code after printing why (QUIET: only into c->why).
 * timeout_ms bounds a TCP connect; < 0 waits as long as the system does. */
int	client_connect(struct client *c, const struct target *t,
	    int timeout_ms, int quiet);
/* 0, an exit code after printing why, or CLIENT_PEER_CLOSED (nothing
 * printed): the daemon closed the connection, and may have sent a reply
 * saying why before it did. */
#define CLIENT_PEER_CLOSED	(-1)
int	client_send(struct client *c, const struct buf *b, int timeout_ms);
/* Next value that is not a push (pushes go to ON_PUSH if set).  0 or an
 * exit code after printing why.  timeout_ms < 0: wait forever. */
int	client_read(struct client *c, struct resp_value *v, int timeout_ms,
	    void (*on_push)(const struct resp_value *));
/* The next whole value in c->in, if there is one: RESP_OK (V made, its
 * bytes consumed), RESP_MORE, or RESP_BAD with *ERR saying why (a
 * protocol error: nothing more on this connection can be trusted). */
int	client_next(struct client *c, struct resp_value *v, const char **err);
void	client_close(struct client *c);
/* Through the transport: see struct transport. */
ssize_t	client_recv(struct client *c, void *p, size_t n);
const char *client_error(const struct client *c, int err);
int	client_pending(const struct client *c);
/* The handshake: HELLO 3, with AUTH for TCP targets, and SESSION token
 * unless SESSION is NULL (the shell's: its session then outlives a
 * connection lost and made again). */
int	client_put_hello(struct buf *b, const struct target *t,
	    const char *secret, const char *session);
/* Is V, not an error, what HELLO answers (a map)?  Anything else is a
 * protocol error. */
int	client_hello_reply(const struct resp_value *v);

/* module.c */
/* Symbol SYM of our module NAME ("tls"), found beside the executable
 * (ctl/NAME.so in a build tree) or in the installed directory.  NULL with
 * WHY saying so, in one line, when it cannot be had. */
const void *module_load(const char *name, const char *sym, char *why,
	    size_t whysize);

/* target.c */
/* Parse unix:///path, unix:path, a path, tcp://[user@]host:port
 * (IPv6 as [addr]).  0, or -1 after printing why. */
int	target_parse(const char *s, struct target *t);
/* HOST PORT, as the shell's `connect host port` gives them. */
int	target_host_port(const char *host, const char *port, struct target *t);
/* The default local target (see procctl --help). */
int	target_default(struct target *t);
/* The secret for a TCP target: $PROCCTL_SECRET, else asked on the
 * terminal.  NULL (after printing why) when there is none. */
char	*target_secret(const struct target *t);
/* The TLS options from the environment: PROCCTL_CACERT, PROCCTL_CERT,
 * PROCCTL_KEY (any of them, or PROCCTL_TLS=1, turns TLS on). */
void	target_tls_env(struct tls_opts *o);
/* --tls, --cacert F, --cert F, --key F: 1 if ARGV[*I] was one (*I moves
 * past it), 0 if not, -1 after printing why. */
int	target_tls_option(struct tls_opts *o, int argc, const char *const *argv,
	    int *i);
/* Give a TCP target the TLS options O (it keeps TLS on if tls:// set it). */
void	target_apply_tls(struct target *t, const struct tls_opts *o);
/* TCP without a client certificate: the user proves who they are with
 * a secret. */
#define target_needs_secret(t)	((t)->tcp && (t)->tls.cert[0] == '\0')

/* cmdinfo.c */
/* Read an array of command maps.  0, or -1 when out of memory. */
int	cmdinfo_parse(struct cmd_table *tab, const struct resp_value *arr);
/* The same for the one map of command NAME (a table of 0 or 1). */
int	cmdinfo_parse_one(struct cmd_table *tab, const struct resp_value *arr,
	    const char *name);
void	cmdinfo_free(struct cmd_table *tab);
/* By name, case-insensitively; NULL if the daemon has no such command. */
const struct cmd_info *cmdinfo_find(const struct cmd_table *tab,
	    const char *name);
/* Does the command line ARGV (ARGV[0] is CI's name) give CI's option
 * NAME?  Read as the daemon reads options. */
int	cmdinfo_option_given(const struct cmd_info *ci, int argc,
	    const char *const *argv, const char *name);
/* By the protocol's convention, a command given its option named this
 * goes on after its reply: pushes ["follow", ...] until UNFOLLOW or the
 * end of the connection (docs/protocol.md). */
#define CMD_FOLLOW_OPTION	"follow"
/* Add W to V unless it is there.  0, or -1 when out of memory. */
int	strv_add(struct strv *v, const char *w);
void	strv_free(struct strv *v);

/* complete.c */
/* What the shell completes: the daemon's commands (TAB, which stays the
 * caller's: it must last until complete_reset) and the candidates their
 * arguments name. */
void	complete_set_commands(const struct cmd_table *tab);
void	complete_reset(void);
/* The distinct commands whose replies hold candidates (complete.command):
 * send each at connect and hand the reply to complete_note_reply. */
size_t	complete_nsources(void);
const char *complete_source(size_t i);
/* Source I's request (its words: "list all") appended to B.  0, or -1. */
int	complete_put_source(struct buf *b, size_t i);
void	complete_note_reply(size_t i, const struct resp_value *reply);
/* A push event: its record adds candidates to the arguments that
 * follow its kind. */
void	complete_note_event(const struct resp_value *push);
/* For the editor: see struct edit_hooks. */
char	**complete_words(const char *line, int start, const char *text,
	    int *files);

/* compgen.c */
/* procctl --complete WORD...: the candidates for the last word, one a
 * line (" files" asks for file names too).  An exit code. */
int	compgen_run(const struct target *t, int argc, char **argv,
	    int timeout_ms);

/* help.c */
/* procctl --help: the client's own options and commands, then the
 * daemon's (asked of T quickly, when it can be asked without a secret;
 * not at all if T is NULL). */
void	help_usage(FILE *fp, const struct target *t);
/* The columns help fits in: $COLUMNS, else the terminal's (standard
 * output), else 80. */
int	help_width(void);
/* The daemon's commands, by group, within help_width(). */
void	help_commands(FILE *fp, const struct cmd_table *tab);
/* One command in full: usage, summary, options, arguments. */
void	help_command(FILE *fp, const struct cmd_info *ci);
/* V as help if it is a command map or an array of them: 0, else -1. */
int	help_render(FILE *fp, const struct resp_value *v);

/* link.c: the shell's connection to the daemon, made again when it is
 * lost (RESUME: on a terminal).  It owns no part of the terminal: what
 * the shell must hear comes up through the hooks, as calls go one way. */
struct link_hooks {
	/* A line where replies go; a message about the connection. */
	void	(*show)(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
	void	(*note)(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
	void	(*state)(void);		/* connected or not: the prompt */
	void	(*fail)(int code);	/* an exit status, for a script */
	/* HELLO's reply: the session is on; AGAIN: after a loss. */
	void	(*hello)(const struct resp_value *v, int again);
	/* The reply to a request the shell expected (link_expect). */
	void	(*reply)(size_t tag, const struct resp_value *v);
	void	(*event)(const struct resp_value *push);
	void	(*closed)(void);	/* what the connection said is stale */
};
/* The tags of what the user typed (LINK_FOLLOW: a following command):
 * a connection lost before its reply says so in an error line. */
#define LINK_USER	((size_t)-1)
#define LINK_FOLLOW	((size_t)-2)
void	link_init(const struct link_hooks *hooks, int resume);
/* Closes any connection first.  0, or -1 after saying why. */
int	link_connect(const struct target *t);
/* Close, and stop retrying.  WHY (NULL: nothing to say) is noted, with
 * the replies it cost, and fails a script with EXIT_UNAVAIL. */
void	link_disconnect(const char *why);
/* One more reply owed, for the reply hook with TAG: replies come in the
 * order the requests were sent.  Expect the user's (LINK_USER) before
 * sending, so that a connection lost first answers with an error line. */
void	link_expect(size_t tag);
/* 0, or -1 with the connection lost (and perhaps being made again). */
int	link_send(const struct buf *b);
int	link_connected(void);
int	link_lost(void);		/* from a loss until HELLO answers */
const struct target *link_target(void);
const char *link_name(void);		/* the target, for messages */
/* For the shell's poll loop: the socket (-1: none), to link_read when it
 * is ready or link_buffered (TLS holds bytes); the ms until link_tick is
 * due to retry (-1: not retrying); whether replies are still owed. */
int	link_fd(void);
int	link_buffered(void);
void	link_read(void);
int	link_timeout(void);
void	link_tick(void);
int	link_waiting(void);

/* term.c: the shell's terminal: the line editor on a terminal, plain
 * lines otherwise.  What it reads goes up through the hooks. */
struct term_hooks {
	/* A line typed, or read (LEN bytes; no newline).  Nonzero: the
	 * shell is done, read no more. */
	int	 (*line)(const char *line, size_t len);
	void	 (*eof)(void);		/* Ctrl-D */
	/* Ctrl-C: 1 if the shell took it, else the line typed is dropped. */
	int	 (*interrupt)(void);
	/* For Tab: see struct edit_hooks. */
	char	**(*complete)(const char *line, int start, const char *text,
		    int *files);
};
/* Standard input and output a terminal: 1 (whether or not the editor
 * could be loaded; without it, plain lines); else 0. */
int	term_init(const struct term_hooks *hooks);
/* The editor takes the terminal, with PROMPT and the history file. */
void	term_start(const char *prompt);
void	term_stop(void);
int	term_tty(void);			/* the editor has the terminal */
int	term_input_done(void);		/* plain input is over */
/* TEXT (LEN bytes, one or more lines) above the prompt, the line being
 * typed put back as it was. */
void	term_show(const char *text, size_t len);
void	term_prompt(const char *prompt);
void	term_drop_input(void);		/* what was typed and not read */
/* One wait for the keys (KEYS: else they wait unread), FD (-1: none)
 * and at most MS (-1: no limit); then Ctrl-C and resizes are acted on
 * and the keys read.  Whether FD is ready. */
int	term_wait(int keys, int fd, int ms);

/* shell.c: the interactive shell; returns the exit status. */
/* The TLS options `connect` starts from (the command line's). */
void	shell_tls_defaults(const struct tls_opts *o);
int	shell_run(const struct target *t, int have_target, int json);

/* render.c */
/* The columns N bytes of S take on a terminal: UTF-8 continuation bytes
 * take none. */
size_t	render_width(const char *s, size_t n);
/* $COLUMNS, else the terminal's (standard output), else 0. */
size_t	render_columns(void);
/* One line for a push event: "[event] 4242 sleep exited with status 0
 * after 10.0s".  Returns 0, or -1 if V is not an event. */
int	render_event(struct buf *out, const struct resp_value *v);
/* A following command's push (["follow", KIND, MAP]), not an event? */
int	render_is_followed(const struct resp_value *v);
/* Its line: the map's "text" (or the push as an event). */
int	render_followed(struct buf *out, const struct resp_value *v);
/* For people: tables, "key: value" lines, command help (a command map or
 * an array of them), plain values. */
void	render_human(FILE *fp, const struct resp_value *v);
void	render_json(FILE *fp, const struct resp_value *v);
/* Error reply: its exit code, and the message without the code. */
int	error_exit_code(const char *err);
const char *error_message(const char *err);
/* Error reply V's message without the code, escaped for a person (what
 * a daemon sends may hold anything): appended to OUT. */
void	render_error(struct buf *out, const struct resp_value *v);

#endif
