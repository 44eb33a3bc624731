/* Event names that are string literals of the interpreter.
 *
 * Most events CPython raises name themselves with a C string literal
 * (`PySys_Audit("builtins.id", ...)`): the same address every time, in a
 * read-only segment of libpython that is never unloaded and never written. The
 * hook keeps a small cache from such an address to its table entry (events.c),
 * which saves hashing and comparing the name: most of what a counted event cost
 * over a no-op hook. Names at any other address (a Python `sys.audit("x")`, whose
 * bytes live in a str that can be freed and reused; extension modules loaded
 * later) are never cached and are looked up by their text.
 */
#define _GNU_SOURCE
#include <Python.h>
#include <link.h>
#include <stdint.h>

#include "literals.h"

#define MAX_RANGES 8

static uintptr_t starts[MAX_RANGES], ends[MAX_RANGES];
static int n_ranges;

static int
collect(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t target = (uintptr_t)data;
    int holds = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && target >= start && target < start + ph->p_memsz) {
            holds = 1;
        }
    }
    if (!holds) {
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum && n_ranges < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_W)) {
            starts[n_ranges] = info->dlpi_addr + ph->p_vaddr;
            ends[n_ranges] = starts[n_ranges] + ph->p_memsz;
            n_ranges++;
        }
    }
    return 1; /* found: stop */
}

int
literals_init(void)
{
    n_ranges = 0;
    /* The object whose code PySys_Audit is: where CPython's own literals are. */
    if (dl_iterate_phdr(collect, (void *)(uintptr_t)&PySys_Audit) != 1 || n_ranges == 0) {
        n_ranges = 0;
        return -1;
    }
    return 0;
}

int
is_literal(const char *name)
{
    uintptr_t p = (uintptr_t)name;
    for (int i = 0; i < n_ranges; i++) {
        if (p >= starts[i] && p < ends[i]) {
            return 1;
        }
    }
    return 0;
}
