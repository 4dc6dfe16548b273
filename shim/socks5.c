/* SOCKS5 client codec (RFC 1928, RFC 1929) with Tor's extended onion-service
 * errors. Pure: no I/O, no allocation, no global state, so it is thread-safe and
 * can be fuzzed directly. See socks5.h for the contract. */
#include "socks5.h"

#include <errno.h>
#include <string.h>

enum {
	SOCKS5_VERSION = 0x05,
	SOCKS5_AUTH_VERSION = 0x01,      /* RFC 1929 sub-negotiation version */
	SOCKS5_METHOD_NONE = 0x00,
	SOCKS5_METHOD_USERPASS = 0x02,
	SOCKS5_CMD_CONNECT = 0x01,
	SOCKS5_ATYP_IPV4 = 0x01,
	SOCKS5_ATYP_DOMAIN = 0x03,
	SOCKS5_ATYP_IPV6 = 0x04,
	SOCKS5_FIELD_MAX = 255,          /* longest host, user or password */
	SOCKS5_METHOD_REPLY_LEN = 2,     /* VER METHOD */
	SOCKS5_AUTH_REPLY_LEN = 2,       /* VER STATUS */
	SOCKS5_CONNECT_HEADER_LEN = 4,   /* VER REP RSV ATYP */
	SOCKS5_PORT_LEN = 2,
	/* The shortest CONNECT reply accepted: an IPv4 bound address, the shortest
	 * Tor sends (see omx_socks5_parse). */
	SOCKS5_CONNECT_MIN_LEN = SOCKS5_CONNECT_HEADER_LEN + 4 + SOCKS5_PORT_LEN,
};

/* Length of a field for the wire, or 0 if it is NULL, empty or longer than 255
 * bytes; strnlen keeps us from scanning far into an over-long string. */
static size_t socks5_field_len(const char *field)
{
	size_t len;

	if (!field)
		return 0;
	len = strnlen(field, SOCKS5_FIELD_MAX + 1);
	return len > SOCKS5_FIELD_MAX ? 0 : len;
}

/* Builds the greeting, the optional RFC 1929 sub-negotiation and the CONNECT in
 * one buffer so the caller can send them in a single write (Tor accepts the
 * pipelined flight and it saves two round trips over a slow circuit). */
size_t omx_socks5_status_end(uint8_t first)
{
	return first == SOCKS5_AUTH_VERSION ? SOCKS5_AUTH_REPLY_LEN
					    : SOCKS5_METHOD_REPLY_LEN + SOCKS5_AUTH_REPLY_LEN;
}

ssize_t omx_socks5_request(uint8_t *buf, size_t cap, const char *host, uint16_t port,
			   const char *user, const char *pass)
{
	return omx_socks5_request_n(buf, cap, host, socks5_field_len(host), port, user,
				    socks5_field_len(user), pass, socks5_field_len(pass));
}

ssize_t omx_socks5_request_n(uint8_t *buf, size_t cap, const char *host, size_t host_len,
			     uint16_t port, const char *user, size_t user_len, const char *pass,
			     size_t pass_len)
{
	size_t total, pos = 0;

	if (!buf || !host || host_len == 0 || host_len > SOCKS5_FIELD_MAX)
		return -1;
	if (user && (!pass || user_len == 0 || user_len > SOCKS5_FIELD_MAX || pass_len == 0 ||
		     pass_len > SOCKS5_FIELD_MAX))
		return -1;
	if (!user)
		user_len = pass_len = 0;
	total = 3 + (user ? 3 + user_len + pass_len : 0) + 5 + host_len + SOCKS5_PORT_LEN;
	if (total > cap)
		return -1;

	buf[pos++] = SOCKS5_VERSION;
	buf[pos++] = 1; /* one method offered */
	buf[pos++] = user ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	if (user) {
		buf[pos++] = SOCKS5_AUTH_VERSION;
		buf[pos++] = (uint8_t)user_len;
		memcpy(buf + pos, user, user_len);
		pos += user_len;
		buf[pos++] = (uint8_t)pass_len;
		memcpy(buf + pos, pass, pass_len);
		pos += pass_len;
	}
	buf[pos++] = SOCKS5_VERSION;
	buf[pos++] = SOCKS5_CMD_CONNECT;
	buf[pos++] = 0x00; /* reserved */
	buf[pos++] = SOCKS5_ATYP_DOMAIN;
	buf[pos++] = (uint8_t)host_len;
	memcpy(buf + pos, host, host_len);
	pos += host_len;
	buf[pos++] = (uint8_t)(port >> 8);
	buf[pos++] = (uint8_t)(port & 0xff);
	return (ssize_t)pos;
}

/* Records how many bytes in all the caller must have before calling again. */
static enum omx_socks5_result socks5_need(size_t *need, size_t total)
{
	if (need)
		*need = total;
	return OMX_SOCKS5_NEED_MORE;
}

/* Walks the server's replies in order, checking each byte only once it has
 * arrived. *NEED is the shortest complete rest of the replies: the method
 * choice (with credentials, maybe missing: below), the authentication status
 * and a CONNECT reply of at least
 * SOCKS5_CONNECT_MIN_LEN bytes (an IPv4 bound address), so that replies that
 * arrive together are read in one call, and a caller reading exactly *NEED
 * bytes never swallows the SMTP banner of a reply this parser accepts. A reply
 * with a domain-name bound address shorter than that is refused as malformed
 * (Tor always sends an IP address): reading it may have taken banner bytes. */
enum omx_socks5_result omx_socks5_parse(const uint8_t *buf, size_t len, int with_auth,
					size_t *need, int *code)
{
	uint8_t offered = with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	size_t pos = 0, header, addr_len, total, shortest, method_len = SOCKS5_METHOD_REPLY_LEN;

	/* Greeting, credentials and CONNECT go in one write. Tor (0.4.9) then
	 * answers the authentication and the CONNECT but not the greeting: it
	 * parses all three before it answers, and its authentication reply takes
	 * the place of its method choice (tests/integ/tor.sh). Which form came
	 * shows in the first byte, 1 for an authentication status, 5 for a method
	 * choice; until it is in, the shorter form is all that may be asked for. */
	if (with_auth && (len == 0 || buf[0] == SOCKS5_AUTH_VERSION))
		method_len = 0;
	shortest = method_len + (with_auth ? SOCKS5_AUTH_REPLY_LEN : 0) + SOCKS5_CONNECT_MIN_LEN;
	/* Method selection: VER METHOD. */
	if (method_len) {
		if (len < pos + SOCKS5_METHOD_REPLY_LEN)
			return socks5_need(need, shortest);
		if (buf[pos] != SOCKS5_VERSION)
			return OMX_SOCKS5_BAD_VERSION;
		if (buf[pos + 1] != offered) /* 0xFF or a method we never offered */
			return OMX_SOCKS5_NO_METHOD;
		pos += SOCKS5_METHOD_REPLY_LEN;
	}

	/* RFC 1929 status: VER STATUS, any non-zero status is a failure. */
	if (with_auth) {
		if (len < pos + SOCKS5_AUTH_REPLY_LEN)
			return socks5_need(need, shortest);
		if (buf[pos] != SOCKS5_AUTH_VERSION)
			return OMX_SOCKS5_BAD_VERSION;
		if (buf[pos + 1] != 0)
			return OMX_SOCKS5_AUTH_FAILED;
		pos += SOCKS5_AUTH_REPLY_LEN;
	}

	/* CONNECT reply: VER REP RSV ATYP BND.ADDR BND.PORT. */
	header = pos;
	if (len < header + 2)
		return socks5_need(need, shortest);
	if (buf[header] != SOCKS5_VERSION)
		return OMX_SOCKS5_BAD_VERSION;
	if (buf[header + 1] != 0) {
		/* Report a refusal as soon as its code is in: some servers close
		 * without sending the bound address, and the code is what matters. */
		if (code)
			*code = buf[header + 1];
		return OMX_SOCKS5_REFUSED;
	}
	if (len < header + SOCKS5_CONNECT_HEADER_LEN)
		return socks5_need(need, shortest);
	if (buf[header + 2] != 0)
		return OMX_SOCKS5_BAD_REPLY;
	pos = header + SOCKS5_CONNECT_HEADER_LEN;
	switch (buf[header + 3]) {
	case SOCKS5_ATYP_IPV4:
		addr_len = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		addr_len = 16;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < pos + 1)
			return socks5_need(need, shortest);
		addr_len = 1 + (size_t)buf[pos];
		break;
	default:
		return OMX_SOCKS5_BAD_REPLY;
	}
	total = pos + addr_len + SOCKS5_PORT_LEN;
	if (total < shortest)
		return OMX_SOCKS5_BAD_REPLY;
	if (len < total)
		return socks5_need(need, total);
	return OMX_SOCKS5_DONE;
}

/* One row per reply code the shim can meet: the errno the shim's connect()
 * fails with, and the cause it logs. */
struct socks5_code_info {
	int code;
	int err;
	const char *cause;
};

static const struct socks5_code_info socks5_codes[] = {
	{ 0x00, 0, "succeeded" },
	{ 0x01, ECONNREFUSED, "general SOCKS server failure" },
	{ 0x02, EACCES, "connection not allowed by ruleset" },
	{ 0x03, ENETUNREACH, "network unreachable" },
	{ 0x04, EHOSTUNREACH, "host unreachable" },
	{ 0x05, ECONNREFUSED, "connection refused by the onion service" },
	{ 0x06, ETIMEDOUT, "TTL expired" },
	{ 0x07, EPROTO, "command not supported" },
	{ 0x08, EAFNOSUPPORT, "address type not supported" },
	/* Tor's ExtendedErrors (SocksPort flag), onion services only. */
	{ 0xF0, EHOSTUNREACH, "onion service descriptor not found" },
	{ 0xF1, EHOSTUNREACH, "onion service descriptor invalid" },
	{ 0xF2, EHOSTUNREACH, "onion service introduction failed" },
	{ 0xF3, EHOSTUNREACH, "onion service rendezvous failed" },
	{ 0xF4, EACCES, "onion service client authorization missing" },
	{ 0xF5, EACCES, "onion service client authorization wrong" },
	{ 0xF6, EHOSTUNREACH, "invalid onion address" },
	{ 0xF7, ETIMEDOUT, "onion service introduction timed out" },
};

/* Finds CODE's row, or NULL for a code no RFC or Tor version defines. */
static const struct socks5_code_info *socks5_code_lookup(int code)
{
	size_t i;

	for (i = 0; i < sizeof(socks5_codes) / sizeof(socks5_codes[0]); i++)
		if (socks5_codes[i].code == code)
			return &socks5_codes[i];
	return NULL;
}

/* Maps a reply code to the errno connect() reports, so mail software sees a
 * familiar failure (and retries later) instead of a SOCKS detail. */
int omx_socks5_code_errno(int code)
{
	const struct socks5_code_info *info = socks5_code_lookup(code);

	return info ? info->err : ECONNREFUSED;
}

/* A short cause for logs; a fixed string for unknown codes keeps this free of
 * buffers and so thread-safe. */
const char *omx_socks5_code_str(int code)
{
	const struct socks5_code_info *info = socks5_code_lookup(code);

	return info ? info->cause : "unknown SOCKS reply code";
}
