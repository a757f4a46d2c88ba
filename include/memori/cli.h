/*
 * cli.h — the `memori` subcommands that move data (src/cli/): `export`
 * (JSON lines of a store), `import` (those lines into the configured
 * store, idempotent by UUID) and `migrate` (the configured store copied
 * into another, resumable and verified). main.c parses the global options,
 * then hands the rest of the command line here.
 *
 * Exit codes as main.c's: 0 success, 1 runtime failure, 2 bad usage or
 * input (a malformed line, a model mismatch, a target that holds other data).
 */
#ifndef MEMORI_CLI_H
#define MEMORI_CLI_H

#include <stdbool.h>

#include "memori/config.h"
#include "memori/embed.h"
#include "memori/store.h"

/* What a subcommand runs on, opened by main.c and closed by it after the call. */
struct mr_cli_parts {
    const struct mr_config *cfg;
    struct mr_store *store;       /* the configured store (DATABASE_URL) */
    struct mr_embedder *embedder; /* the configured model */
};

/*
 * Opens the configured parts into *out; check_model: the store must record
 * (or now records) the configured model, as `serve` requires. Returns an
 * exit code (0: opened; else the reason is printed).
 */
typedef int (*mr_cli_open_fn)(void *arg, bool check_model, struct mr_cli_parts *out);

/* memori export [--out FILE|-] [--tenant T] [--user U] [--with-vectors] */
int mr_cli_export(int argc, char **argv, mr_cli_open_fn open, void *arg);

/* memori import [--in FILE|-] [--keep-going] [--reembed] */
int mr_cli_import(int argc, char **argv, mr_cli_open_fn open, void *arg);

/* memori migrate --to postgresql://...|sqlite:///path [--merge] */
int mr_cli_migrate(int argc, char **argv, mr_cli_open_fn open, void *arg);

/*
 * 0 when tx holds an event like e — the same memory, time, kind and actor,
 * whatever its id (a target holding e's id gave it another) — MR_ENOTFOUND
 * when not, or the store's error. How import and migrate skip an event
 * they copied before.
 */
int mr_cli_history_find(struct mr_store_tx *tx, const struct mr_history_event *e,
                        struct mr_err *err);

/* The format's header line's "kind", and the version this build writes and reads. */
#define MR_EXPORT_KIND "memori-export"
#define MR_EXPORT_VERSION 1

#endif
