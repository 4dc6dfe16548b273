/* omx_sockaddr_parts reads exactly the addresses the kernel accepts: for every
 * length from 0 to past a sockaddr_storage, the kernel itself is asked (a UDP
 * connect() to loopback sends nothing) and our reading must agree: an address
 * the kernel takes is one we read, one it refuses (EINVAL) one we leave. */
#include "sockaddr.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether the kernel accepts SA/LEN for connect() on a fresh UDP socket of FAMILY. */
static int kernel_accepts(int family, const void *sa, socklen_t len)
{
	int fd = socket(family, SOCK_DGRAM, 0), rc, err;

	if (fd < 0)
		return -1;
	rc = connect(fd, sa, len);
	err = errno;
	close(fd);
	return rc == 0 ? 1 : err == EINVAL ? 0 : -1;
}

int main(void)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		uint8_t raw[256];
	} u;
	uint32_t addr;
	uint16_t port;
	int mismatches4 = 0, mismatches6 = 0, seen4 = 0, seen6 = 0, refused6 = 0;

	for (socklen_t len = 0; len <= 140; len++) {
		int k, ours;

		memset(&u, 0, sizeof(u));
		u.in.sin_family = AF_INET;
		u.in.sin_port = htons(9);
		u.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		k = kernel_accepts(AF_INET, &u, len);
		ours = omx_sockaddr_parts(&u.sa, len, &addr, &port) == 1;
		if (k >= 0 && k != ours) {
			mismatches4++;
			printf("# AF_INET len %u: kernel %s, we %s\n", len, k ? "accepts" : "refuses",
			       ours ? "read it" : "leave it");
		}
		seen4 += k == 1;

		memset(&u, 0, sizeof(u));
		u.in6.sin6_family = AF_INET6;
		u.in6.sin6_port = htons(9);
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &u.in6.sin6_addr);
		k = kernel_accepts(AF_INET6, &u, len);
		ours = omx_sockaddr_parts(&u.sa, len, &addr, &port) == 1;
		if (k >= 0 && k != ours) {
			mismatches6++;
			printf("# AF_INET6 len %u: kernel %s, we %s\n", len, k ? "accepts" : "refuses",
			       ours ? "read it" : "leave it");
		}
		seen6 += k == 1;
		refused6 += k == 0;
	}
	ok(seen4 > 0, "(the kernel accepted some AF_INET lengths: the oracle works)");
	is_int(mismatches4, 0, "AF_INET: we read exactly the lengths the kernel accepts (16 to 128)");
	ok(seen6 > 0 && refused6 > 0, "(the kernel accepted and refused some AF_INET6 lengths: the oracle works)");
	is_int(mismatches6, 0, "AF_INET6: we read exactly the lengths the kernel accepts (24 to 128)");

	memset(&u, 0, sizeof(u));
	u.in6.sin6_family = AF_INET6;
	u.in6.sin6_port = htons(25);
	inet_pton(AF_INET6, "::ffff:240.1.2.3", &u.in6.sin6_addr);
	is_int(omx_sockaddr_parts(&u.sa, 24, &addr, &port), 1, "a 24-byte v4-mapped AF_INET6 address is read");
	is_int(addr, 0xF0010203u, "its IPv4 address, host order");
	is_int(port, 25, "its port");
	inet_pton(AF_INET6, "2001:db8::1", &u.in6.sin6_addr);
	is_int(omx_sockaddr_parts(&u.sa, 24, &addr, &port), 0, "another 24-byte IPv6 address: port only");
	is_int(omx_sockaddr_parts(&u.sa, 23, &addr, &port), -1, "23 bytes: not read (the kernel says EINVAL)");
	is_int(omx_sockaddr_parts(NULL, 16, &addr, &port), -1, "no address: not read");
	u.sa.sa_family = AF_UNIX;
	is_int(omx_sockaddr_parts(&u.sa, 110, &addr, &port), -1, "AF_UNIX: not an IP address");
	return done_testing();
}
