/* err.c — the one table from error codes to HTTP statuses. */
#include "memori/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    int code;
    int http;
    const char *name;
} table[] = {
    {MR_OK, 200, "OK"},
    {MR_EINVAL, 400, "EINVAL"},
    {MR_ENOTFOUND, 404, "ENOTFOUND"},
    {MR_ECONFLICT, 409, "ECONFLICT"},
    {MR_EUNAVAIL, 503, "EUNAVAIL"},
    {MR_ENOTSUP, 501, "ENOTSUP"},
    {MR_EINTERNAL, 500, "EINTERNAL"},
    {MR_ETOOLARGE, 413, "ETOOLARGE"},
    {MR_EVALIDATION, 422, "EVALIDATION"},
    {MR_EUPSTREAM, 502, "EUPSTREAM"},
    {MR_EUNAUTH, 401, "EUNAUTH"},
    {MR_EFORBIDDEN, 403, "EFORBIDDEN"},
    {MR_EBUSY, 503, "EBUSY"},
};

int mr_err_set(struct mr_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mr_err_clear(struct mr_err *err)
{
    if (err) {
        err->code = MR_OK;
        err->msg[0] = '\0';
    }
}

int mr_err_http_status(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code)
            return table[i].http;
    return 500;
}

const char *mr_err_name(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code)
            return table[i].name;
    return "EUNKNOWN";
}
