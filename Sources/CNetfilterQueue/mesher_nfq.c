#include "mesher_nfq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

struct mesher_nfq {
    struct mnl_socket *nl;
    unsigned int portid;
    uint16_t queue;
    uint32_t mark;
    uint32_t mask;
    atomic_int open;
    size_t size;
    char *buf;
    int handled;
};

/// Sends a config message and waits for the kernel's ack, so that EBUSY/EPERM are reported.
static int send_config(mesher_nfq *q, struct nlmsghdr *nlh) {
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) return errno;
    char ack[MNL_SOCKET_BUFFER_SIZE];
    int n = mnl_socket_recvfrom(q->nl, ack, sizeof ack);
    if (n < 0) return errno;
    if (mnl_cb_run(ack, n, 0, q->portid, NULL, NULL) < 0) return errno;
    return 0;
}

mesher_nfq *mesher_nfq_open(uint16_t queue, uint32_t mark, uint32_t mask, int *error) {
    mesher_nfq *q = calloc(1, sizeof *q);
    if (!q) { *error = ENOMEM; return NULL; }
    q->queue = queue;
    q->mark = mark;
    q->mask = mask;
    q->size = 0xffff + (MNL_SOCKET_BUFFER_SIZE / 2);
    q->buf = malloc(q->size);
    q->nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!q->buf || !q->nl || mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        *error = errno ? errno : ENOMEM;
        mesher_nfq_close(q);
        return NULL;
    }
    q->portid = mnl_socket_get_portid(q->nl);
    int one = 1;
    mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &one, sizeof one);

    struct nlmsghdr *nlh = nfq_nlmsg_put(q->buf, NFQNL_MSG_CONFIG, queue);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
    int status = send_config(q, nlh);
    if (status == 0) {
        nlh = nfq_nlmsg_put(q->buf, NFQNL_MSG_CONFIG, queue);
        // Only metadata: the verdict needs the packet id, never the payload.
        nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_META, 0);
        mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN));
        mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
        status = send_config(q, nlh);
    }
    if (status != 0) {
        *error = status;
        mesher_nfq_close(q);
        return NULL;
    }
    return q;
}

void mesher_nfq_set_open(mesher_nfq *q, int open) { atomic_store(&q->open, open); }

static int verdict(const struct nlmsghdr *nlh, void *data) {
    mesher_nfq *q = data;
    struct nlattr *attr[NFQA_MAX + 1] = {0};
    if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR]) return MNL_CB_OK;
    struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
    uint32_t old = attr[NFQA_MARK] ? ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) : 0;
    char out[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *reply = nfq_nlmsg_put(out, NFQNL_MSG_VERDICT, q->queue);
    nfq_nlmsg_verdict_put(reply, ntohl(ph->packet_id), NF_ACCEPT);
    if (atomic_load(&q->open)) nfq_nlmsg_verdict_put_mark(reply, (old & ~q->mask) | (q->mark & q->mask));
    mnl_socket_sendto(q->nl, reply, reply->nlmsg_len);
    q->handled++;
    return MNL_CB_OK;
}

int mesher_nfq_process(mesher_nfq *q, int timeout_ms) {
    struct pollfd pfd = {.fd = mnl_socket_get_fd(q->nl), .events = POLLIN};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready <= 0) return ready < 0 && errno != EINTR ? -errno : 0;
    int n = mnl_socket_recvfrom(q->nl, q->buf, q->size);
    if (n < 0) return errno == EINTR || errno == ENOBUFS ? 0 : -errno;
    q->handled = 0;
    if (mnl_cb_run(q->buf, n, 0, q->portid, verdict, q) < 0 && errno != 0) return -errno;
    return q->handled;
}

void mesher_nfq_close(mesher_nfq *q) {
    if (!q) return;
    if (q->nl) mnl_socket_close(q->nl);
    free(q->buf);
    free(q);
}
