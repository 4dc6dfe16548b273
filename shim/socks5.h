/* SOCKS5 client codec (RFC 1928, RFC 1929 username/password) with Tor's
 * extended onion-service errors (0xF0-0xF7). Pure: no I/O, no allocation. */
#ifndef OMX_SOCKS5_H
#define OMX_SOCKS5_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes the client's whole first flight into BUF: the greeting, then (if USER is
 * not NULL) the RFC 1929 username/password sub-negotiation, then the CONNECT
 * request for HOST (address type 3, domain name, never an IP) and PORT. Only one
 * method is offered (0x02 with USER, else 0x00), so the flight can be sent in one
 * write. Returns its length, or -1 if it does not fit or a field is too long
 * (HOST, USER, PASS: 1..255 bytes). */
ssize_t omx_socks5_request(uint8_t *buf, size_t cap, const char *host, uint16_t port,
			   const char *user, const char *pass);
/* The same with the fields' lengths given (each 1..255 bytes, else -1), so
 * that a caller that knows them spares the scans. */
ssize_t omx_socks5_request_n(uint8_t *buf, size_t cap, const char *host, size_t host_len,
			     uint16_t port, const char *user, size_t user_len, const char *pass,
			     size_t pass_len);

enum omx_socks5_result {
	OMX_SOCKS5_DONE = 0,     /* reply complete, CONNECT succeeded */
	OMX_SOCKS5_NEED_MORE,    /* read until *NEED bytes in all have arrived */
	OMX_SOCKS5_BAD_VERSION,  /* a reply did not start with the right version */
	OMX_SOCKS5_NO_METHOD,    /* server refused our method (0xFF or another) */
	OMX_SOCKS5_AUTH_FAILED,  /* username/password rejected */
	OMX_SOCKS5_REFUSED,      /* CONNECT answered with a non-zero code: see *CODE */
	OMX_SOCKS5_BAD_REPLY,    /* malformed: bad reserved byte or address type */
};

/* Parses what the server has sent so far (LEN bytes at BUF, from the first byte of
 * the method reply). WITH_AUTH says whether USER was given to omx_socks5_request;
 * then the method reply may be missing, as Tor leaves it out when the greeting
 * and the credentials come in one write (the authentication status first).
 * With NEED_MORE, *NEED is the total length needed before calling again: the
 * shortest complete rest of the replies, counting a CONNECT reply with an IPv4
 * bound address (the shortest Tor sends), so that replies that arrived together
 * are read in one call; reading exactly that much never consumes bytes past a
 * reply this parser accepts (the SMTP banner may follow at once). A reply with
 * a bound name shorter than that is BAD_REPLY. With REFUSED, *CODE holds the
 * reply code, reported as soon as it is in. */
enum omx_socks5_result omx_socks5_parse(const uint8_t *buf, size_t len, int with_auth,
					size_t *need, int *code);

/* With credentials: how many bytes of the replies end with the authentication
 * status, given their FIRST byte (2 when the server left its method choice
 * out, as Tor does for a one-write request; else 4). */
size_t omx_socks5_status_end(uint8_t first);

/* The errno a CONNECT reply CODE stands for (Tor's extended codes included), and a
 * short cause for logs, e.g. 0xF0 -> EHOSTUNREACH, "onion service descriptor not found". */
int omx_socks5_code_errno(int code);
const char *omx_socks5_code_str(int code);
#endif
