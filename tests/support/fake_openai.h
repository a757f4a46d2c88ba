/*
 * fake_openai.h — a loopback HTTP server speaking the OpenAI /v1/embeddings
 * wire format (request and response bodies, error bodies, Retry-After), for
 * testing the HTTP provider. Its embeddings are deterministic per text; it
 * can be told to answer the next requests with failures.
 */
#ifndef MEMORI_TEST_FAKE_OPENAI_H
#define MEMORI_TEST_FAKE_OPENAI_H

#include <stddef.h>

enum fake_mode {
    FAKE_OK,
    FAKE_429, /* rate limited, Retry-After: 1 */
    FAKE_500,
    FAKE_401,       /* error body echoing the key, as a careless provider might */
    FAKE_SLOW,      /* answers after 3 s */
    FAKE_MALFORMED, /* 200 with a body that is not JSON */
    FAKE_WRONG_DIM, /* 200 with vectors one element short */
};

struct fake_openai;

/* Starts on a free loopback port; embeddings have dimension dim. */
struct fake_openai *fake_openai_start(size_t dim);
int fake_openai_port(const struct fake_openai *f);
/* The next `times` requests get mode m (after those queued before). */
void fake_openai_push(struct fake_openai *f, enum fake_mode m, int times);
/* Requests answered so far, and texts embedded so far. */
int fake_openai_requests(struct fake_openai *f);
int fake_openai_texts(struct fake_openai *f);
/* The Authorization header and "model" of the last request (copies, static storage). */
const char *fake_openai_last_auth(struct fake_openai *f);
const char *fake_openai_last_model(struct fake_openai *f);
void fake_openai_stop(struct fake_openai *f);

#endif
