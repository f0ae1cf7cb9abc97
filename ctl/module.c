/*
 * procctl's own modules (tls.so, edit.so): found, loaded once, checked.
 * A build tree holds them beside the executable (build/ctl/NAME.so next
 * to build/procctl); an installed procctl finds them in PROCCTL_CTL_DIR,
 * set at build time.  The first place that has the file is used, and a
 * module of another build (another CTL_MODULE_ABI) is refused.  Every
 * failure is one line in WHY: which module, where, and the loader's
 * reason.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#ifndef PROCCTL_CTL_DIR
#define PROCCTL_CTL_DIR	"/usr/local/lib/procctl/ctl"
#endif

/* Where NAME.so is: beside the executable, else installed. */
static void
module_path(const char *name, char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			snprintf(out, size, "%s/ctl/%s.so", exe, name);
			if (access(out, F_OK) == 0)
				return;
		}
	}
	snprintf(out, size, "%s/%s.so", PROCCTL_CTL_DIR, name);
}

/* Load, check the ABI number the entry point starts with, hand it out. */
const void *
module_load(const char *name, const char *sym, char *why, size_t whysize)
{
	static const char *const what[][2] = {
		{ "tls", "TLS" }, { "edit", "line editing" },
	};
	const char *purpose = name;
	char path[PATH_MAX + 32];
	const int *abi;
	void *h;
	size_t i;

	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		if (strcmp(what[i][0], name) == 0)
			purpose = what[i][1];
	module_path(name, path, sizeof(path));
	/* Loaded before, dlopen hands back the same handle. */
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, whysize, "%s needs procctl's module %s.so, "
		    "which cannot be loaded: %s", purpose, name, dlerror());
		return NULL;
	}
	/* Every module's entry point begins with its ABI number. */
	if ((abi = dlsym(h, sym)) == NULL || *abi != CTL_MODULE_ABI) {
		snprintf(why, whysize, "%s needs the module %s, which is %s",
		    purpose, path, abi == NULL ? "not a procctl module" :
		    "from another build of procctl");
		dlclose(h);
		return NULL;
	}
	return abi;
}
