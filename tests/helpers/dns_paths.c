/* dns_paths MODE NAME TYPE [PORT]: sends one DNS query for NAME (TYPE: MX, A,
 * AAAA) to 127.0.0.1:PORT (53) along the sending path MODE, around libc's
 * resolver, and prints what came back, one line:
 *   answer rcode=N an=N onion=0|1 from=ADDR:PORT   (a reply; its source as recvfrom saw it)
 *   refused errno=NAME                             (the send failed)
 *   noreply                                        (nothing within 2 s)
 * Modes: udp-sendto udp-recvfrom-chk udp-sendmsg cudp-send cudp-write cudp-writev cudp-sendmsg
 * cudp-sendmmsg cudp-syscall cudp-sendto-addr cudp-twice dup dup2 dup3 dupfd dupfd-cloexec
 * scm exec exec-chroot exec-chroot-syscall high unspec cork more big tcp tcp-split tcp-pipe tcp-sendto-addr
 * tcp-tfo bad-pointer bad-qdcount bad-dot sendfile res_send-qdcount. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static struct sockaddr_in server;
static const char *mode;

static size_t build_query(uint8_t *q, const char *name, int type)
{
	size_t n = 12;
	const char *p = name;

	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01; /* RD */
	q[5] = 1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		q[n++] = (uint8_t)len;
		memcpy(q + n, p, len);
		n += len;
		p += len + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

static void print_reply(const uint8_t *r, ssize_t n, const struct sockaddr_in *from)
{
	int onion = 0;
	char addr[INET_ADDRSTRLEN] = "?";

	if (n < 12) {
		printf("short reply\n");
		return;
	}
	for (ssize_t i = 0; i + 6 <= n; i++)
		if (memcmp(r + i, "\x05onion", 6) == 0)
			onion = 1;
	if (from && from->sin_family == AF_INET)
		inet_ntop(AF_INET, &from->sin_addr, addr, sizeof(addr));
	printf("answer rcode=%d an=%d onion=%d from=%s:%d\n", r[3] & 15, r[6] << 8 | r[7], onion, addr,
	       from ? ntohs(from->sin_port) : 0);
}

static int refused(void)
{
	printf("refused errno=%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	return 0;
}

/* Reads a UDP reply on FD, with its source. */
static int udp_reply(int fd)
{
	uint8_t r[4096];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, 2000) != 1) {
		printf("noreply\n");
		return 0;
	}
	memset(&from, 0, sizeof(from));
	if (strcmp(mode, "udp-sendmsg") == 0) {
		struct iovec v = { r, sizeof(r) };
		struct msghdr m = { .msg_name = &from, .msg_namelen = flen, .msg_iov = &v, .msg_iovlen = 1 };
		n = recvmsg(fd, &m, 0);
	} else if (strcmp(mode, "udp-recvfrom-chk") == 0) {
		/* What a _FORTIFY_SOURCE build calls where the length is not a constant. */
		extern ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *,
					      socklen_t *);
		n = __recvfrom_chk(fd, r, sizeof(r), sizeof(r), 0, (struct sockaddr *)&from, &flen);
	} else {
		n = recvfrom(fd, r, sizeof(r), 0, (struct sockaddr *)&from, &flen);
	}
	if (n < 0)
		return refused();
	print_reply(r, n, &from);
	return 0;
}

static int tcp_reply(int fd)
{
	uint8_t r[4096];
	size_t have = 0;
	struct pollfd p = { fd, POLLIN, 0 };

	while (have < 2 || have < 2 + (size_t)(r[0] << 8 | r[1])) {
		ssize_t n;
		if (poll(&p, 1, 2000) != 1) {
			printf("noreply\n");
			return 0;
		}
		n = read(fd, r + have, sizeof(r) - have);
		if (n <= 0) {
			printf("closed\n");
			return 0;
		}
		have += (size_t)n;
	}
	print_reply(r + 2, (ssize_t)have - 2, &server);
	return 0;
}

static int connected_udp(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof(server)) != 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	uint8_t q[6000], tq[6002];
	size_t n;
	int type, fd, cfd;
	ssize_t r = -1;

	if (argc < 4) {
		fprintf(stderr, "usage: dns_paths MODE NAME TYPE [PORT]\n");
		return 2;
	}
	mode = argv[1];
	type = strcmp(argv[3], "MX") == 0 ? 15 : strcmp(argv[3], "AAAA") == 0 ? 28 : 1;
	server.sin_family = AF_INET;
	server.sin_port = htons(argc > 4 ? atoi(argv[4]) : 53);
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = build_query(q, argv[2], type);
	tq[0] = (uint8_t)(n >> 8);
	tq[1] = (uint8_t)n;
	memcpy(tq + 2, q, n);

	if (strcmp(mode, "exec-child") == 0 || strncmp(mode, "exec-chroot-child", 17) == 0) {
		/* argv[4] is the inherited descriptor. The chroot children first
		 * change root to $OMX_TEST_CHROOT (an empty directory: no /proc
		 * there), with chroot() or syscall(SYS_chroot). */
		fd = atoi(argv[4]);
		if (strncmp(mode, "exec-chroot-child", 17) == 0) {
			const char *dir = getenv("OMX_TEST_CHROOT");
			int rc = !dir ? -1
			       : strcmp(mode, "exec-chroot-child-syscall") == 0 ? (int)syscall(SYS_chroot, dir)
										  : chroot(dir);
			if (rc != 0 || chdir("/") != 0) {
				printf("skip: chroot(%s): %s\n", dir ? dir : "$OMX_TEST_CHROOT unset", strerror(errno));
				return 0;
			}
		}
		mode = "cudp-send";
		if (send(fd, q, n, 0) < 0)
			return refused();
		return udp_reply(fd);
	}
	if (strcmp(mode, "udp-sendto") == 0 || strcmp(mode, "unspec") == 0 || strcmp(mode, "udp-sendmsg") == 0 ||
	    strcmp(mode, "udp-recvfrom-chk") == 0) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (strcmp(mode, "unspec") == 0) {
			struct sockaddr_in u = server;
			u.sin_family = AF_UNSPEC;
			r = sendto(fd, q, n, 0, (struct sockaddr *)&u, sizeof(u));
		} else if (strcmp(mode, "udp-sendmsg") == 0) {
			struct iovec v[2] = { { q, 5 }, { q + 5, n - 5 } };
			struct msghdr m = { .msg_name = &server, .msg_namelen = sizeof(server), .msg_iov = v, .msg_iovlen = 2 };
			r = sendmsg(fd, &m, 0);
		} else {
			r = sendto(fd, q, n, 0, (struct sockaddr *)&server, sizeof(server));
		}
		return r < 0 ? refused() : udp_reply(fd);
	}
	if (strncmp(mode, "tcp", 3) == 0) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (strcmp(mode, "tcp-tfo") == 0) {
			r = sendto(fd, tq, n + 2, MSG_FASTOPEN, (struct sockaddr *)&server, sizeof(server));
			return r < 0 ? refused() : tcp_reply(fd);
		}
		if (connect(fd, (struct sockaddr *)&server, sizeof(server)) != 0) {
			perror("connect");
			return 2;
		}
		if (strcmp(mode, "tcp-split") == 0) {
			r = write(fd, tq, 2);
			if (r >= 0)
				r = write(fd, tq + 2, n);
		} else if (strcmp(mode, "tcp-pipe") == 0) {
			/* An unmapped query first, then NAME's, in one write. */
			uint8_t two[700];
			size_t n1 = build_query(two + 2, "plain.example", 15);
			two[0] = 0;
			two[1] = (uint8_t)n1;
			memcpy(two + 2 + n1, tq, n + 2);
			r = write(fd, two, n1 + 2 + n + 2);
			if (r >= 0) {
				uint8_t skip[512];
				struct pollfd p = { fd, POLLIN, 0 };
				if (poll(&p, 1, 2000) == 1 && read(fd, skip, 2) == 2)
					if (read(fd, skip, (size_t)(skip[0] << 8 | skip[1])) < 0)
						return refused();
			}
		} else if (strcmp(mode, "tcp-sendto-addr") == 0) {
			r = sendto(fd, tq, n + 2, 0, (struct sockaddr *)&server, sizeof(server));
		} else {
			r = write(fd, tq, n + 2);
		}
		return r < 0 ? refused() : tcp_reply(fd);
	}
	if (strcmp(mode, "res_send-qdcount") == 0) {
		/* A packet of two questions through libc's res_send. */
		uint8_t ans[4096];
		q[5] = 2;
		r = res_send(q, (int)n, ans, sizeof(ans));
		if (r < 0)
			return refused();
		print_reply(ans, r, &server);
		return 0;
	}
	if (strncmp(mode, "bad-", 4) == 0) {
		/* Malformed versions of the query, over unconnected UDP. */
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (strcmp(mode, "bad-qdcount") == 0) {
			q[5] = 2;
		} else if (strcmp(mode, "bad-pointer") == 0) {
			/* NAME's first label, then a pointer to the header. */
			size_t l = q[12];
			q[12 + 1 + l] = 0xc0;
			q[12 + 2 + l] = 0x0c;
			memmove(q + 12 + 3 + l, q + n - 4, 4);
			n = 12 + 3 + l + 4;
		} else if (strcmp(mode, "bad-dot") == 0) {
			q[13] = '.'; /* a '.' inside the first label */
		}
		r = sendto(fd, q, n, 0, (struct sockaddr *)&server, sizeof(server));
		return r < 0 ? refused() : udp_reply(fd);
	}
	fd = connected_udp();
	if (strcmp(mode, "cudp-send") == 0) {
		r = send(fd, q, n, 0);
	} else if (strcmp(mode, "cudp-write") == 0) {
		r = write(fd, q, n);
	} else if (strcmp(mode, "cudp-writev") == 0) {
		struct iovec v[2] = { { q, 3 }, { q + 3, n - 3 } };
		r = writev(fd, v, 2);
	} else if (strcmp(mode, "cudp-sendmsg") == 0) {
		struct iovec v = { q, n };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
		r = sendmsg(fd, &m, 0);
	} else if (strcmp(mode, "cudp-sendmmsg") == 0 || strcmp(mode, "cudp-syscall") == 0) {
		struct iovec v = { q, n };
		struct mmsghdr m = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
		r = strcmp(mode, "cudp-syscall") == 0 ? syscall(SYS_sendmmsg, fd, &m, 1, 0) : sendmmsg(fd, &m, 1, 0);
	} else if (strcmp(mode, "cudp-twice") == 0) {
		/* Two queries in flight; the first reply read with recv() (no
		 * source asked), the second with recvfrom(). */
		uint8_t skip[4096];
		struct pollfd p = { fd, POLLIN, 0 };
		r = send(fd, q, n, 0);
		q[1]++;
		if (r >= 0)
			r = send(fd, q, n, 0);
		if (r >= 0 && poll(&p, 1, 2000) == 1 && recv(fd, skip, sizeof(skip), 0) < 0)
			return refused();
	} else if (strcmp(mode, "cudp-sendto-addr") == 0) {
		r = sendto(fd, q, n, 0, (struct sockaddr *)&server, sizeof(server));
	} else if (strncmp(mode, "dup", 3) == 0) {
		cfd = strcmp(mode, "dup") == 0 ? dup(fd)
		    : strcmp(mode, "dup2") == 0 ? dup2(fd, 40)
		    : strcmp(mode, "dup3") == 0 ? dup3(fd, 41, O_CLOEXEC)
		    : strcmp(mode, "dupfd") == 0 ? fcntl(fd, F_DUPFD, 50)
						 : fcntl(fd, F_DUPFD_CLOEXEC, 60);
		close(fd);
		fd = cfd;
		r = send(fd, q, n, 0);
	} else if (strcmp(mode, "scm") == 0) {
		int sv[2];
		char c = 'x', ctl[CMSG_SPACE(sizeof(int))];
		struct iovec v = { &c, 1 };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		struct cmsghdr *cm;

		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		sendmsg(sv[0], &m, 0);
		close(fd);
		m.msg_controllen = sizeof(ctl);
		recvmsg(sv[1], &m, 0);
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
		r = send(fd, q, n, 0);
	} else if (strcmp(mode, "exec") == 0) {
		char fdtext[16];
		snprintf(fdtext, sizeof(fdtext), "%d", fd);
		execl("/proc/self/exe", argv[0], "exec-child", argv[2], argv[3], fdtext, (char *)NULL);
		perror("exec");
		return 2;
	} else if (strcmp(mode, "exec-chroot") == 0 || strcmp(mode, "exec-chroot-syscall") == 0) {
		/* Inherited at 2000, which a scan without /proc (the first 1024
		 * descriptors, one by one) would not reach. */
		struct rlimit rl = { 2010, 2010 };
		char fdtext[16];
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || dup2(fd, 2000) != 2000) {
			printf("skip: no descriptor 2000\n");
			return 0;
		}
		close(fd);
		snprintf(fdtext, sizeof(fdtext), "%d", 2000);
		execl("/proc/self/exe", argv[0],
		      strcmp(mode, "exec-chroot") == 0 ? "exec-chroot-child" : "exec-chroot-child-syscall", argv[2],
		      argv[3], fdtext, (char *)NULL);
		perror("exec");
		return 2;
	} else if (strcmp(mode, "high") == 0) {
		struct rlimit rl = { 70010, 70010 };
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || dup2(fd, 70000) != 70000) {
			printf("skip: no descriptor 70000\n");
			return 0;
		}
		close(fd);
		fd = 70000;
		r = send(fd, q, n, 0);
	} else if (strcmp(mode, "cork") == 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_UDP, UDP_CORK, &one, sizeof(one));
		r = send(fd, q, n, 0);
		if (r >= 0) {
			int zero = 0;
			setsockopt(fd, IPPROTO_UDP, UDP_CORK, &zero, sizeof(zero));
		}
	} else if (strcmp(mode, "more") == 0) {
		r = send(fd, q, 6, MSG_MORE);
		if (r >= 0)
			r = send(fd, q + 6, n - 6, 0);
	} else if (strcmp(mode, "sendfile") == 0) {
		/* The query from a file, by sendfile(). */
		FILE *f = tmpfile();
		off_t off = 0;
		fwrite(q, 1, n, f);
		fflush(f);
		r = sendfile(fd, fileno(f), &off, n);
	} else if (strcmp(mode, "big") == 0) {
		struct iovec v[2] = { { q, n }, { q + n, 5000 - n } };
		struct msghdr m = { .msg_iov = v, .msg_iovlen = 2 };
		memset(q + n, 0, 5000 - n);
		r = sendmsg(fd, &m, 0);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	return r < 0 ? refused() : udp_reply(fd);
}
