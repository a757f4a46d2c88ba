/*
 * migrate.c — the schema migration runner both stores feed their steps to
 * (see store_int.h). All pending steps run in one transaction that keeps
 * other processes out, so a database is never left between two versions
 * and two servers starting together do not both migrate.
 */
#include "store_int.h"

int store_migrate(const struct store_migrator *mg, void *db, const char *where,
                  const struct store_migration *steps, int n, struct mr_err *err)
{
    int version = 0;
    int rc = mg->begin(db, err);
    if (rc)
        return rc;
    if ((rc = mg->read_version(db, &version, err)) != 0)
        goto out;
    if (version > n) {
        rc = mr_err_set(err, MR_ECONFLICT,
                        "database %s has schema version %d, newer than this memori "
                        "(knows up to %d); upgrade memori",
                        where, version, n);
        goto out;
    }
    for (int v = version; v < n; v++) {
        if ((rc = mg->apply(db, &steps[v], err)) != 0 ||
            (steps[v].run && (rc = steps[v].run(db, err)) != 0) ||
            (rc = mg->write_version(db, v + 1, err)) != 0)
            goto out;
    }
    return mg->commit(db, err);
out:
    mg->rollback(db);
    return rc;
}
