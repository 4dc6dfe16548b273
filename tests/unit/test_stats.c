/* The statistics' pure core: causes, exact counting (also from forked
 * processes into one shared mapping), the bounded tables (other bucket,
 * replacement of idle entries), routes, reading a file as untrusted data, and
 * the health verdict. */
#include "onion.h"
#include "stats.h"
#include "tap.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define S(sec) ((int64_t)(sec) * 1000) /* milliseconds */

static void onion(int n, char out[OMX_ONION_LABEL_LEN + 1])
{
	uint8_t key[32] = { 0 };

	memcpy(key, &n, sizeof(n));
	key[31] = 0x42;
	omx_onion_from_pubkey(key, out);
}

static struct omx_stats_file *fresh(time_t now)
{
	struct omx_stats_file *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (f == MAP_FAILED)
		abort();
	omx_stats_init(f, now);
	return f;
}

static const struct omx_stats_onion *find_onion(const struct omx_stats_file *f, const char *o)
{
	for (unsigned i = 0; i < OMX_STATS_ONIONS; i++)
		if (omx_stats_onion_valid(f, i) == 1 && memcmp(f->onions[i].onion, o, 56) == 0)
			return &f->onions[i];
	return NULL;
}

static const struct omx_stats_domain *find_domain(const struct omx_stats_file *f, const char *d)
{
	for (unsigned i = 0; i < OMX_STATS_DOMAINS; i++)
		if (omx_stats_domain_valid(f, i) == 1 && strcmp(f->domains[i].domain, d) == 0)
			return &f->domains[i];
	return NULL;
}

static enum omx_health_verdict verdict(const struct omx_stats_file *f, time_t now, int socks, char *text)
{
	struct omx_health_params p = { .now = now, .window = 3600, .min_onions = 2,
				       .socks_answers = socks, .socks = "127.0.0.1:9050" };

	return omx_stats_verdict(f, &p, text, 1024);
}

static void test_causes(void)
{
	is_int(omx_stats_cause_of(-ECONNREFUSED, 0x01), OMX_CAUSE_GENERAL, "reply 0x01: general failure");
	is_int(omx_stats_cause_of(-ECONNREFUSED, 0x05), OMX_CAUSE_CONN_REFUSED, "reply 0x05");
	is_int(omx_stats_cause_of(-EHOSTUNREACH, 0x06), OMX_CAUSE_TTL_EXPIRED, "reply 0x06: TTL expired");
	is_int(omx_stats_cause_of(-EHOSTUNREACH, 0x08), OMX_CAUSE_ATYP_UNSUPPORTED, "reply 0x08");
	is_int(omx_stats_cause_of(-EHOSTUNREACH, 0xf0), OMX_CAUSE_DESC_NOT_FOUND, "reply 0xF0");
	is_int(omx_stats_cause_of(-EHOSTUNREACH, 0xf6), OMX_CAUSE_BAD_ADDRESS, "reply 0xF6");
	is_int(omx_stats_cause_of(-EHOSTUNREACH, 0xf7), OMX_CAUSE_INTRO_TIMEOUT, "reply 0xF7");
	is_int(omx_stats_cause_of(-ECONNREFUSED, 0x09), OMX_CAUSE_SOCKS_OTHER, "reply 0x09: other");
	is_int(omx_stats_cause_of(-ECONNREFUSED, 0xf8), OMX_CAUSE_SOCKS_OTHER, "reply 0xF8: other");
	is_int(omx_stats_cause_of(-ETIMEDOUT, 0), OMX_CAUSE_TIMEOUT, "ETIMEDOUT: timeout");
	is_int(omx_stats_cause_of(-EINTR, 0), OMX_CAUSE_TIMEOUT, "EINTR (the caller's alarm): timeout");
	is_int(omx_stats_cause_of(-ENETDOWN, 0), OMX_CAUSE_TOR_REFUSED, "ENETDOWN: Tor's port refused");
	is_int(omx_stats_cause_of(-EPROTO, 0), OMX_CAUSE_ERROR, "EPROTO (garbled reply): error");
	is_int(omx_stats_cause_of(-ECONNRESET, 0), OMX_CAUSE_ERROR, "ECONNRESET (closed): error");
	for (int c = OMX_CAUSE_DESC_NOT_FOUND; c <= OMX_CAUSE_INTRO_TIMEOUT; c++)
		ok(!omx_stats_cause_local(c), "%s is the destination's", omx_stats_cause_name(c));
	ok(!omx_stats_cause_local(OMX_CAUSE_CONN_REFUSED), "connection_refused (the service's port) is the destination's");
	ok(omx_stats_cause_local(OMX_CAUSE_GENERAL), "general_failure looks local");
	ok(omx_stats_cause_local(OMX_CAUSE_TTL_EXPIRED), "ttl_expired looks local");
	ok(omx_stats_cause_local(OMX_CAUSE_TIMEOUT), "timeout looks local");
	ok(omx_stats_cause_local(OMX_CAUSE_TOR_REFUSED), "tor_refused looks local");
	ok(omx_stats_cause_local(OMX_CAUSE_ERROR), "error looks local");
	is_str(omx_stats_cause_name(OMX_CAUSES), "unknown", "a cause out of range has a name");
}

static void test_counting(void)
{
	struct omx_stats_file *f = fresh(1000);
	char a[57], b[57];
	const struct omx_stats_onion *ea, *eb;

	onion(1, a);
	onion(2, b);
	omx_stats_count_connect(f, a, 0, -1, 0.03, S(1001));
	omx_stats_count_connect(f, a, 0, -1, 0.3, S(1002));
	omx_stats_count_connect(f, a, 1, -1, 70, S(1003));
	omx_stats_count_connect(f, a, 0, OMX_CAUSE_TIMEOUT, 5, S(1004));
	omx_stats_count_connect(f, a, 1, OMX_CAUSE_DESC_NOT_FOUND, 0.1, S(1005));
	omx_stats_count_connect(f, b, 0, OMX_CAUSE_TOR_REFUSED, 0, S(1006));
	omx_stats_count_connect(f, b, 9, OMX_CAUSE_TOR_REFUSED, 0, S(1007));
	ea = find_onion(f, a);
	eb = find_onion(f, b);
	ok(ea && eb, "both onions have an entry");
	if (!ea || !eb)
		return;
	is_int(ea->c.tried, 5, "onion a: 5 tried");
	is_int(ea->c.succeeded, 3, "onion a: 3 succeeded");
	is_int(ea->c.failed[OMX_CAUSE_TIMEOUT], 1, "onion a: 1 timeout");
	is_int(ea->c.failed[OMX_CAUSE_DESC_NOT_FOUND], 1, "onion a: 1 descriptor not found");
	is_int(ea->c.tor_succeeded[0], 2, "onion a: 2 successes through Tor 0");
	is_int(ea->c.tor_succeeded[1], 1, "onion a: 1 success through Tor 1");
	is_int(ea->c.tor_failed[0], 1, "onion a: 1 failure through Tor 0");
	is_int(ea->c.tor_failed[1], 1, "onion a: 1 failure through Tor 1");
	is_int(ea->c.handshake[0], 1, "0.03 s in the 0.05 s bucket");
	is_int(ea->c.handshake[3], 1, "0.3 s in the 0.5 s bucket");
	is_int(ea->c.handshake[10], 1, "70 s in the 120 s bucket");
	is_int(ea->c.handshake_us, 30000 + 300000 + 70000000, "handshake sum in microseconds");
	is_int(ea->c.last_success, S(1003), "onion a: last success");
	is_int(ea->c.last_failure, S(1005), "onion a: last failure");
	is_int(ea->c.last_cause, OMX_CAUSE_DESC_NOT_FOUND, "onion a: last cause");
	is_int(eb->c.tried, 2, "onion b: 2 tried");
	is_int(eb->c.failed[OMX_CAUSE_TOR_REFUSED], 2, "onion b: 2 refused by Tor");
	is_int(eb->c.tor_failed[OMX_STATS_TORS - 1], 1, "a Tor index past the table counts as the last");
	is_int(eb->c.last_success, 0, "onion b: never succeeded");
	is_int(f->total.tried, 7, "total: 7 tried");
	is_int(f->total.succeeded, 3, "total: 3 succeeded");
	is_int(f->total.failed[OMX_CAUSE_TOR_REFUSED], 2, "total: 2 refused by Tor");
	is_int(f->other_onions.tried, 0, "nothing in the other bucket");
	omx_stats_count_connect(f, a, 0, -1, 200, S(1002));
	is_int(find_onion(f, a)->c.last_success, S(1003), "an older timestamp never moves a last time back");
	is_int(find_onion(f, a)->c.handshake[OMX_STATS_BUCKETS - 1], 1, "200 s in the +Inf bucket");
	omx_stats_count_connect(f, NULL, 0, OMX_CAUSE_ERROR, 0, S(1010));
	is_int(f->other_onions.failed[OMX_CAUSE_ERROR], 1, "no onion name: the other bucket");
	is_int(f->total.tried, 9, "and the total");
	munmap(f, sizeof(*f));
}

/* The table never grows: past its size the other bucket counts; entries idle
 * for OMX_STATS_IDLE give way to new onions. */
static void test_bounds(void)
{
	struct omx_stats_file *f = fresh(1000);
	unsigned n = OMX_STATS_ONIONS + 300, in_entries = 0, valid = 0, later = 0;
	char o[57];

	for (unsigned i = 0; i < n; i++) {
		onion((int)i + 100, o);
		omx_stats_count_connect(f, o, 0, -1, 0.1, S(1000));
	}
	for (unsigned i = 0; i < OMX_STATS_ONIONS; i++)
		if (omx_stats_onion_valid(f, i) == 1) {
			valid++;
			in_entries += (unsigned)f->onions[i].c.tried;
		}
	is_int(f->total.tried, n, "every connection is in the total");
	is_int(in_entries + f->other_onions.tried, n, "entries + other bucket = total");
	ok(f->other_onions.tried > 0, "more onions than slots: the rest is in the other bucket (%llu)",
	   (unsigned long long)f->other_onions.tried);
	ok(valid > OMX_STATS_ONIONS * 9 / 10, "the table fills (%u of %u slots)", valid, OMX_STATS_ONIONS);
	for (unsigned i = 0; i < 200; i++) {
		onion((int)i + 100000, o);
		omx_stats_count_connect(f, o, 0, OMX_CAUSE_TIMEOUT, 0, S(1000 + OMX_STATS_IDLE + 10));
		if (find_onion(f, o))
			later++;
	}
	is_int(later, 200, "after OMX_STATS_IDLE, new onions replace idle entries");
	ok(find_onion(f, o) && find_onion(f, o)->c.tried == 1 && find_onion(f, o)->c.succeeded == 0,
	   "a replaced entry starts from zero");
	munmap(f, sizeof(*f));
}

/* Processes counting at once into one shared mapping lose nothing. */
static void test_processes(void)
{
	struct omx_stats_file *f = fresh(1000);
	char a[57], b[57];
	int status, all_ok = 1;

	onion(1, a);
	onion(2, b);
	for (int p = 0; p < 4; p++) {
		pid_t pid = fork();

		if (pid == 0) {
			for (int i = 0; i < 20000; i++) {
				omx_stats_count_connect(f, i % 2 ? a : b, (unsigned)p % 2,
							i % 3 ? -1 : OMX_CAUSE_TIMEOUT, 0.2, S(1000 + i));
				omx_stats_count_route(f, "Mapped.Example.", OMX_STATS_ROUTE_MAP, S(1000));
			}
			_exit(0);
		}
	}
	while (wait(&status) > 0)
		all_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
	ok(all_ok, "4 processes counted 20000 connections each");
	is_int(f->total.tried, 80000, "total tried exact");
	is_int(find_onion(f, a)->c.tried + find_onion(f, b)->c.tried, 80000, "the two onions' entries add up");
	is_int(f->total.failed[OMX_CAUSE_TIMEOUT], 4 * 6667, "timeouts exact");
	is_int(f->total.tor_succeeded[0] + f->total.tor_succeeded[1], 80000 - 4 * 6667, "successes per Tor add up");
	is_int(f->total.last_success, S(1000 + 19999), "last success is the latest of all processes");
	is_int(find_domain(f, "mapped.example")->route[OMX_STATS_ROUTE_MAP], 80000, "routes counted exactly, the name normalised");
	munmap(f, sizeof(*f));
}

static void test_routes(void)
{
	struct omx_stats_file *f = fresh(1000);
	struct omx_dns_question q = { .qtype = OMX_DNS_T_MX, .qclass = OMX_DNS_C_IN };
	struct omx_dns_answer ans = { .rcode = OMX_DNS_NOERROR, .n = 1 };

	snprintf(q.name, sizeof(q.name), "x.example");
	is_int(omx_stats_route_of(&q, &ans, 1, OMX_STATS_ROUTE_MAP), OMX_STATS_ROUTE_MAP, "MX records from the map: map");
	is_int(omx_stats_route_of(&q, &ans, 1, OMX_STATS_ROUTE_SRV), OMX_STATS_ROUTE_SRV, "MX records from discovery: srv");
	is_int(omx_stats_route_of(&q, &ans, 0, OMX_STATS_ROUTE_MAP), OMX_STATS_ROUTE_MX, "passed to DNS: mx");
	ans.rcode = OMX_DNS_SERVFAIL;
	ans.n = 0;
	is_int(omx_stats_route_of(&q, &ans, 1, OMX_STATS_ROUTE_SRV), OMX_STATS_ROUTE_DEFERRED, "SERVFAIL: deferred");
	ans.rcode = OMX_DNS_NOERROR;
	is_int(omx_stats_route_of(&q, &ans, 1, OMX_STATS_ROUTE_MAP), -1, "NODATA: no route");
	q.qtype = OMX_DNS_T_A;
	is_int(omx_stats_route_of(&q, &ans, 0, OMX_STATS_ROUTE_MAP), -1, "not an MX question: no route");

	omx_stats_count_route(f, "a.example", OMX_STATS_ROUTE_MAP, S(1001));
	omx_stats_count_route(f, "A.EXAMPLE.", OMX_STATS_ROUTE_DEFERRED, S(1002));
	omx_stats_count_route(f, "b.example", OMX_STATS_ROUTE_MX, S(1003));
	omx_stats_count_route(f, "bad name\"}", OMX_STATS_ROUTE_MX, S(1004));
	omx_stats_count_route(f, "", OMX_STATS_ROUTE_MX, S(1004));
	ok(find_domain(f, "a.example") != NULL, "a.example has an entry (case and trailing dot normalised)");
	if (find_domain(f, "a.example")) {
		is_int(find_domain(f, "a.example")->route[OMX_STATS_ROUTE_MAP], 1, "a.example: 1 by the map");
		is_int(find_domain(f, "a.example")->route[OMX_STATS_ROUTE_DEFERRED], 1, "a.example: 1 deferred");
		is_int(find_domain(f, "a.example")->last_route, OMX_STATS_ROUTE_DEFERRED, "a.example: last route deferred");
	}
	is_int(f->other_domains[OMX_STATS_ROUTE_MX], 2, "names that are no plain host names go to the other bucket");
	munmap(f, sizeof(*f));
}

static void test_damage(void)
{
	struct omx_stats_file *f = fresh(1000);
	char a[57], err[512], path[] = "/tmp/test_stats.XXXXXX";
	unsigned i;
	uint32_t seed = 1;
	int fd;
	struct omx_stats_file *r;

	onion(1, a);
	omx_stats_count_connect(f, a, 0, -1, 0.1, S(1001));
	omx_stats_count_route(f, "a.example", OMX_STATS_ROUTE_MAP, S(1001));
	is_int(omx_stats_check(f, sizeof(*f), err, sizeof(err)), 0, "a fresh file passes the check");
	is_int(omx_stats_check(f, sizeof(*f) - 1, err, sizeof(err)), -1, "one byte short: refused");
	ok(strstr(err, "not an onionmx statistics file") != NULL, "and says why: %s", err);
	for (i = 0; i < OMX_STATS_ONIONS && omx_stats_onion_valid(f, i) != 1; i++)
		;
	ok(i < OMX_STATS_ONIONS, "the onion's entry is found");
	f->onions[i].onion[3] ^= 0x01;
	is_int(omx_stats_onion_valid(f, i), -1, "a changed name byte: damaged");
	f->onions[i].onion[3] ^= 0x01;
	f->onions[i].c.last_cause = 999;
	is_int(omx_stats_onion_valid(f, i), -1, "a cause out of range: damaged");
	f->onions[i].c.last_cause = 0;
	f->magic[0] = 'X';
	is_int(omx_stats_check(f, sizeof(*f), err, sizeof(err)), -1, "a changed magic: refused");
	f->magic[0] = 'o';
	f->onion_slots++;
	is_int(omx_stats_check(f, sizeof(*f), err, sizeof(err)), -1, "another layout: refused");
	f->onion_slots--;

	/* Garbage everywhere after the header: readers and the verdict never
	 * crash, and report damage. */
	{
		unsigned char *p = (unsigned char *)f;
		char text[1024];
		unsigned damaged = 0;

		for (size_t k = offsetof(struct omx_stats_file, total); k < sizeof(*f); k++) {
			seed = seed * 1103515245u + 12345u;
			p[k] = (unsigned char)(seed >> 16);
		}
		for (i = 0; i < OMX_STATS_ONIONS; i++)
			damaged += omx_stats_onion_valid(f, i) < 0;
		for (i = 0; i < OMX_STATS_DOMAINS; i++)
			damaged += omx_stats_domain_valid(f, i) < 0;
		ok(damaged > OMX_STATS_ONIONS, "random bytes: entries reported damaged (%u)", damaged);
		int h = verdict(f, 1000, 1, text);
		ok(h != OMX_HEALTH_OK, "and the verdict is not OK: %d %s", h, text);
		ok(strstr(text, "damaged") != NULL, "it says the statistics are damaged");
	}

	/* Files: read with read(), never mapped; short, long, missing. */
	omx_stats_init(f, 1000);
	fd = mkstemp(path);
	ok(fd >= 0 && write(fd, f, sizeof(*f)) == (ssize_t)sizeof(*f), "a statistics file written");
	r = omx_stats_read(path, err, sizeof(err));
	ok(r != NULL, "omx_stats_read reads it");
	free(r);
	ok(ftruncate(fd, sizeof(*f) / 2) == 0, "truncated");
	r = omx_stats_read(path, err, sizeof(err));
	ok(r == NULL && strstr(err, path), "a truncated file is refused, named: %s", err);
	ok(ftruncate(fd, sizeof(*f) + 1) == 0, "lengthened");
	r = omx_stats_read(path, err, sizeof(err));
	ok(r == NULL, "a longer file is refused");
	close(fd);
	unlink(path);
	errno = 0;
	r = omx_stats_read(path, err, sizeof(err));
	ok(r == NULL && errno == ENOENT, "no file: ENOENT");
	munmap(f, sizeof(*f));
}

static void test_verdict(void)
{
	struct omx_stats_file *f = fresh(1000);
	char a[57], b[57], c[57], text[1024];
	time_t now = 100000;

	onion(1, a);
	onion(2, b);
	onion(3, c);
	is_int(verdict(f, now, 1, text), OMX_HEALTH_OK, "nothing tried: OK");
	ok(strncmp(text, "idle", 4) == 0, "and idle: %s", text);
	is_int(verdict(f, now, 0, text), OMX_HEALTH_CRITICAL, "nothing tried, Tor's SOCKS port silent: CRITICAL");
	ok(strstr(text, "our Tor is broken") && strstr(text, "does not answer"), "our Tor: %s", text);

	omx_stats_count_connect(f, a, 0, -1, 0.5, S(now - 100));
	omx_stats_count_connect(f, b, 0, -1, 0.5, S(now - 90));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_OK, "successes: OK");
	ok(strstr(text, "2 onions reached") != NULL, "%s", text);

	/* One destination down: F0 for c while a and b succeed. */
	omx_stats_count_connect(f, c, 0, OMX_CAUSE_DESC_NOT_FOUND, 0.1, S(now - 80));
	omx_stats_count_connect(f, a, 0, -1, 0.5, S(now - 70));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_WARNING, "one onion with descriptor errors, others fine: WARNING");
	ok(strstr(text, "destination down") && strstr(text, c) && strstr(text, "descriptor_not_found"),
	   "destination down, named with its cause: %s", text);
	omx_stats_count_connect(f, c, 0, OMX_CAUSE_INTRO_FAILED, 0.1, S(now - 60));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_WARNING, "still only c: WARNING");

	/* c recovers. */
	omx_stats_count_connect(f, c, 0, -1, 0.5, S(now - 50));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_OK, "c recovered: OK");

	/* One onion timing out while the others succeed afterwards: not our Tor. */
	omx_stats_count_connect(f, a, 0, OMX_CAUSE_TIMEOUT, 20, S(now - 40));
	omx_stats_count_connect(f, b, 0, -1, 0.5, S(now - 35));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_WARNING, "one onion timing out, another succeeding later: WARNING");
	ok(strstr(text, "destination down") && strstr(text, "timeout"), "destination down (timeout): %s", text);

	/* Our Tor: two distinct onions fail with local causes after the last success. */
	omx_stats_count_connect(f, a, 0, OMX_CAUSE_TOR_REFUSED, 0, S(now - 20));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_WARNING, "one onion refused by Tor: only WARNING");
	omx_stats_count_connect(f, b, 0, OMX_CAUSE_GENERAL, 0, S(now - 10));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_CRITICAL, "two onions failing locally, no success since: CRITICAL");
	ok(strstr(text, "our Tor is broken") && strstr(text, "2 onions"), "%s", text);
	ok(strstr(text, "SOCKS port answers") != NULL, "and says the SOCKS port answers");
	is_int(verdict(f, now, -1, text), OMX_HEALTH_CRITICAL, "the same without a probe: CRITICAL");
	/* A success after those failures: Tor works again. */
	omx_stats_count_connect(f, c, 0, -1, 0.5, S(now - 5));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_WARNING, "a success since: no longer CRITICAL");
	/* Old failures fall out of the window. */
	is_int(verdict(f, now + 7200, 1, text), OMX_HEALTH_OK, "an hour later nothing in the window: OK");
	ok(strncmp(text, "idle", 4) == 0, "idle: %s", text);
	munmap(f, sizeof(*f));

	/* A single onion, failing locally: too few onions to blame our Tor. */
	f = fresh(1000);
	omx_stats_count_connect(f, a, 0, OMX_CAUSE_TIMEOUT, 20, S(now - 20));
	is_int(verdict(f, now, 1, text), OMX_HEALTH_WARNING, "one onion, timing out, nothing else tried: WARNING");
	ok(strstr(text, "too few to blame our Tor") != NULL, "%s", text);
	munmap(f, sizeof(*f));
}

int main(void)
{
	test_causes();
	test_counting();
	test_bounds();
	test_processes();
	test_routes();
	test_damage();
	test_verdict();
	return done_testing();
}
