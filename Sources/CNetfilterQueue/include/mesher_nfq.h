#ifndef MESHER_NFQ_H
#define MESHER_NFQ_H

#include <stdint.h>

/// A bound NFQUEUE: every packet queued to it gets NF_ACCEPT, with `mark` (under `mask`) added while the
/// gate is open. Built on libmnl and libnetfilter_queue's netlink helpers.
typedef struct mesher_nfq mesher_nfq;

/// Binds queue `queue` (fail-open: the kernel accepts packets itself when the queue is full). Returns NULL
/// with `*error` set to an errno value (EBUSY: the queue has another reader; EPERM: no CAP_NET_ADMIN).
mesher_nfq *mesher_nfq_open(uint16_t queue, uint32_t mark, uint32_t mask, int *error);

/// Whether verdicts carry the mark (1) or not (0); safe from any thread.
void mesher_nfq_set_open(mesher_nfq *q, int open);

/// Waits up to `timeout_ms` for queued packets and gives each its verdict. Returns the number handled,
/// 0 on timeout, or -errno.
int mesher_nfq_process(mesher_nfq *q, int timeout_ms);

void mesher_nfq_close(mesher_nfq *q);

#endif
