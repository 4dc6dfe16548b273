/* The discovery cache: one file shared by every process of the MTA. Answers
 * and addresses must agree across handles, processes and restarts; expiry,
 * eviction and a full table must behave; a file that is not ours, or is
 * damaged, must never route mail. */
#include "cache.h"
#include "onion.h"
#include "sha3.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/omx-test-cache.XXXXXX";
static uint32_t net, mask;

static void onion(unsigned i, char out[OMX_ONION_LABEL_LEN + 1])
{
	char in[64];
	uint8_t key[32];

	snprintf(in, sizeof(in), "cache-test/%u", i);
	omx_sha3_256(in, strlen(in), key);
	omx_onion_from_pubkey(key, out);
}

static void result(struct omx_srv_result *r, unsigned first, int n, uint32_t ttl)
{
	memset(r, 0, sizeof(*r));
	r->status = OMX_SRV_ONION;
	r->ttl = ttl;
	r->n = n;
	r->secure = 1;
	for (int i = 0; i < n; i++) {
		onion(first + (unsigned)i, r->rec[i].onion);
		r->rec[i].priority = (uint16_t)i;
		r->rec[i].weight = 5;
		r->rec[i].port = (uint16_t)(2500 + i);
	}
}

static void test_open(void)
{
	struct omx_cache c, c2;
	char path[256], err[512];
	struct stat st;
	uint32_t other_net, other_mask;

	snprintf(path, sizeof(path), "%s/cache", dir);
	is_int(omx_cache_open(&c, path, net, mask, 0, err, sizeof(err)), 0, "creates a missing cache");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode 0644");
	is_int(c.shared, 1, "a shared file");
	is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), 0, "opens it again");
	omx_cache_close(&c2);

	omx_parse_range("10.0.0.0/8", &other_net, &other_mask);
	is_int(omx_cache_open(&c2, path, other_net, other_mask, 0, err, sizeof(err)), -1,
	       "another range: refused");
	ok(strstr(err, path) && strstr(err, "248.0.0.0/8") && strstr(err, "10.0.0.0/8"),
	   "the message names the file and both ranges (%s)", err);
	omx_parse_range("248.0.0.0/20", &other_net, &other_mask);
	is_int(omx_cache_open(&c2, path, other_net, other_mask, 0, err, sizeof(err)), -1,
	       "a range too small for the table: refused");
	ok(!omx_cache_range_ok(other_net, other_mask), "/20 is too small");
	omx_parse_range("248.0.0.0/17", &other_net, &other_mask);
	ok(omx_cache_range_ok(other_net, other_mask), "/17 is enough");

	chmod(path, 0664);
	is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), -1,
	       "group-writable: refused");
	ok(strstr(err, "writable") != NULL, "says why (%s)", err);
	chmod(path, 0644);
	if (geteuid() == 0) {
		ok(chown(path, 65534, 65534) == 0, "chown to nobody");
		is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), -1,
		       "owned by another user: refused");
		ok(chown(path, 0, 0) == 0, "chown back");
	}
	{
		char link[300];
		snprintf(link, sizeof(link), "%s/link", dir);
		ok(symlink(path, link) == 0, "symlink made");
		is_int(omx_cache_open(&c2, link, net, mask, 0, err, sizeof(err)), -1,
		       "a symlink: refused");
	}
	{
		char junk[300];
		int fd;
		snprintf(junk, sizeof(junk), "%s/junk", dir);
		fd = open(junk, O_CREAT | O_WRONLY, 0644);
		ok(fd >= 0 && write(fd, "not a cache\n", 12) == 12, "junk file written");
		close(fd);
		is_int(omx_cache_open(&c2, junk, net, mask, 0, err, sizeof(err)), -1,
		       "a file that is not a cache: refused");
		ok(strstr(err, "not an onionmx cache") != NULL, "says so (%s)", err);
	}
	{
		char nodir[300];
		snprintf(nodir, sizeof(nodir), "%s/missing/cache", dir);
		is_int(omx_cache_open(&c2, nodir, net, mask, 0, err, sizeof(err)), -1,
		       "a cache in a missing directory: error");
		ok(strstr(err, nodir) != NULL, "naming the path (%s)", err);
	}
	omx_cache_close(&c);
}

static void test_answers(void)
{
	struct omx_cache c, c2;
	struct omx_srv_result r, got;
	char path[256], err[512];
	time_t now = 1000000;

	snprintf(path, sizeof(path), "%s/answers", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err));
	is_int(omx_cache_get(&c, "example.org", now, &got), 0, "empty cache: miss");
	result(&r, 1, 3, 300);
	is_int(omx_cache_put(&c, "example.org", now, &r), 0, "stored");
	is_int(omx_cache_get(&c2, "example.org", now + 10, &got), 1, "a second handle sees it");
	is_int(got.status, OMX_SRV_ONION, "status kept");
	is_int(got.n, 3, "records kept");
	is_str(got.rec[2].onion, r.rec[2].onion, "onions kept");
	is_int(got.rec[1].port, 2501, "ports kept");
	is_int(got.rec[2].priority, 2, "priorities kept");
	is_int(got.rec[0].weight, 5, "weights kept");
	is_int(got.secure, 1, "DNSSEC status kept");
	is_int(got.ttl, 290, "TTL counts down");
	is_int(omx_cache_get(&c2, "example.org", now + 300, &got), 0, "expired at its TTL");
	is_int(omx_cache_get(&c2, "EXAMPLE.org", now, &got), 0, "keys are exact (callers lower-case)");

	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_NONE;
	r.ttl = 60;
	omx_cache_put(&c, "none.example", now, &r);
	is_int(omx_cache_get(&c2, "none.example", now + 1, &got), 1, "a negative answer is cached");
	is_int(got.status, OMX_SRV_NONE, "as NONE");
	r.status = OMX_SRV_TEMPFAIL;
	r.ttl = 60;
	omx_cache_put(&c, "fail.example", now, &r);
	is_int(omx_cache_get(&c2, "fail.example", now + 1, &got), 0, "a failure is never cached");
	r.status = OMX_SRV_NONE;
	r.ttl = 0;
	omx_cache_put(&c, "zero.example", now, &r);
	is_int(omx_cache_get(&c2, "zero.example", now, &got), 0, "TTL 0: not cached");

	/* Replacing an answer. */
	result(&r, 50, 1, 100);
	omx_cache_put(&c, "example.org", now, &r);
	omx_cache_get(&c2, "example.org", now, &got);
	is_int(got.n, 1, "a newer answer replaces the old one");

	/* Many domains: each hit is the domain's own answer; some may be evicted. */
	{
		int wrong = 0, hits = 0;
		char d[64];
		for (unsigned i = 0; i < 6000; i++) {
			snprintf(d, sizeof(d), "d%u.example", i);
			result(&r, 1000 + i % 300, 1, 3600);
			omx_cache_put(&c, d, now, &r);
		}
		for (unsigned i = 0; i < 6000; i++) {
			char want[57];
			snprintf(d, sizeof(d), "d%u.example", i);
			onion(1000 + i % 300, want);
			if (omx_cache_get(&c2, d, now, &got)) {
				hits++;
				if (strcmp(got.rec[0].onion, want) != 0)
					wrong++;
			}
		}
		printf("# 6000 domains in %d slots: %d still cached\n", OMX_CACHE_DOMAIN_SLOTS, hits);
		is_int(wrong, 0, "6000 domains: every hit is the domain's own answer");
		ok(hits > OMX_CACHE_DOMAIN_SLOTS / 2, "most slots in use (%d hits)", hits);
	}
	omx_cache_close(&c);
	omx_cache_close(&c2);
}

static void test_addresses(void)
{
	struct omx_cache c, c2;
	struct omx_target t;
	char path[256], err[512], label[57], upper[57];
	uint32_t a1, a2, a3;
	time_t now = 2000000;

	snprintf(path, sizeof(path), "%s/addr", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	onion(1, label);
	is_int(omx_cache_onion_addr(&c, label, 56, &a1), 0, "unknown onion: no address");
	is_int(omx_cache_assign(&c, label, 2525, now, &a1), 1, "assigned");
	ok((a1 & mask) == net, "inside the discovery range");
	ok((a1 & 255) != 0 && (a1 & 255) != 255, "never .0 or .255");
	is_int(omx_cache_assign(&c, label, 2525, now, &a2), 1, "assigned again");
	is_int(a2, a1, "the same address");
	for (int i = 0; i < 57; i++)
		upper[i] = (char)(label[i] >= 'a' && label[i] <= 'z' ? label[i] - 32 : label[i]);
	is_int(omx_cache_onion_addr(&c, upper, 56, &a3), 1, "found in any case");
	is_int(a3, a1, "same address");
	is_int(omx_cache_addr_onion(&c, a1, &t), 1, "the address leads back to the onion");
	is_str(t.onion, label, "that onion");
	is_int(t.port, 2525, "with its SRV port");
	omx_cache_assign(&c, label, 26, now, &a2);
	omx_cache_addr_onion(&c, a1, &t);
	is_int(t.port, 26, "the latest port wins");
	is_int(omx_cache_addr_onion(&c, a1 + 1, &t), 0, "a neighbouring address: nothing");
	is_int(omx_cache_addr_onion(&c, 0x0a000001, &t), 0, "outside the range: nothing");
	is_int(omx_cache_assign(&c, "notanonion", 25, now, &a2), 0, "an invalid label gets nothing");
	omx_cache_close(&c);

	/* A new handle, as after a restart: same address. */
	omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err));
	is_int(omx_cache_onion_addr(&c2, label, 56, &a2), 1, "after reopening: still there");
	is_int(a2, a1, "same address");

	/* Thousands of onions: distinct addresses, each leads back. */
	{
		int bad = 0, assigned = 0;
		static uint32_t addrs[5000];
		for (unsigned i = 0; i < 5000; i++) {
			onion(100 + i, label);
			if (!omx_cache_assign(&c2, label, 25, now, &addrs[i]))
				continue;
			assigned++;
		}
		for (unsigned i = 0; i < 5000; i++) {
			onion(100 + i, label);
			if (!omx_cache_addr_onion(&c2, addrs[i], &t) || strcmp(t.onion, label) != 0)
				bad++;
		}
		is_int(assigned, 5000, "5000 onions all get an address");
		is_int(bad, 0, "and every address leads back to its own onion");
	}
	omx_cache_close(&c2);
}

static void test_full_and_reuse(void)
{
	struct omx_cache c;
	struct omx_target t;
	char err[512], label[57];
	uint32_t a, first_addr = 0;
	time_t now = 3000000;
	unsigned i, got = 0;

	omx_cache_open_anonymous(&c, net, mask, err, sizeof(err));
	is_int(c.shared, 0, "anonymous cache");
	for (i = 0; i < OMX_CACHE_ADDR_SLOTS + 200; i++) {
		onion(100000 + i, label);
		if (omx_cache_assign(&c, label, 25, now, &a)) {
			if (!got)
				first_addr = a;
			got++;
		}
	}
	printf("# %u of %u onions placed in %d slots\n", got, i, OMX_CACHE_ADDR_SLOTS);
	ok(got <= OMX_CACHE_ADDR_SLOTS && got > OMX_CACHE_ADDR_SLOTS * 9 / 10,
	   "the table fills up to its size (%u)", got);
	onion(999999, label);
	is_int(omx_cache_assign(&c, label, 25, now + 86400, &a), 0,
	       "full table: no address while the others are in use (the caller defers)");
	is_int(omx_cache_assign(&c, label, 25, now + OMX_CACHE_ADDR_IDLE + 1, &a), 1,
	       "once they idled for the reuse period, one is reused");
	ok(omx_cache_addr_onion(&c, a, &t) && strcmp(t.onion, label) == 0,
	   "and the address now leads to the new onion");
	ok(first_addr != 0, "first address recorded");
	omx_cache_close(&c);
}

static void test_processes(void)
{
	struct omx_cache c;
	char path[256], err[512], label[57];
	int status, all_ok = 1;
	pid_t kids[4];

	snprintf(path, sizeof(path), "%s/procs", dir);
	/* Four processes open the file at once (one creates it) and assign the
	 * same 400 onions in different orders. */
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct omx_cache mine;
			char l[57];
			uint32_t a;
			if (omx_cache_open(&mine, path, net, mask, 0, err, sizeof(err)) != 0)
				_exit(2);
			for (unsigned i = 0; i < 400; i++) {
				onion(5000 + (k % 2 ? 399 - i : i), l);
				if (!omx_cache_assign(&mine, l, 25, 100, &a))
					_exit(3);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		waitpid(kids[k], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			all_ok = 0;
	}
	ok(all_ok, "four processes created/opened the cache and assigned concurrently");
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	{
		int bad = 0;
		static uint32_t seen[400];
		for (unsigned i = 0; i < 400; i++) {
			struct omx_target t;
			onion(5000 + i, label);
			if (!omx_cache_onion_addr(&c, label, 56, &seen[i]) ||
			    !omx_cache_addr_onion(&c, seen[i], &t) || strcmp(t.onion, label) != 0)
				bad++;
			for (unsigned j = 0; j < i; j++)
				if (seen[j] == seen[i])
					bad++;
		}
		is_int(bad, 0, "each onion has exactly one address, leading back to it");
	}
	/* A forked child sees the parent's answers through the same mapping. */
	{
		struct omx_srv_result r, got;
		pid_t pid;
		result(&r, 7000, 2, 600);
		omx_cache_put(&c, "fork.example", 100, &r);
		pid = fork();
		if (pid == 0)
			_exit(omx_cache_get(&c, "fork.example", 101, &got) == 1 ? 0 : 1);
		waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child sees the cached answer");
	}
	omx_cache_close(&c);
}

static void test_damage(void)
{
	struct omx_cache c;
	struct omx_srv_result r, got;
	char path[256], err[512];
	int fd, bad = 0;
	struct stat st;
	char d[64];

	snprintf(path, sizeof(path), "%s/damaged", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	for (unsigned i = 0; i < 500; i++) {
		snprintf(d, sizeof(d), "d%u.example", i);
		result(&r, 9000 + i, 2, 3600);
		omx_cache_put(&c, d, 100, &r);
	}
	omx_cache_close(&c);
	/* Scribble over everything past the header and lock. */
	fd = open(path, O_RDWR);
	fstat(fd, &st);
	srand(3);
	for (int k = 0; k < 200000; k++) {
		uint8_t byte = (uint8_t)rand();
		off_t at = 128 + rand() % (st.st_size - 128);
		if (pwrite(fd, &byte, 1, at) != 1)
			bad++;
	}
	close(fd);
	is_int(omx_cache_open(&c, path, net, mask, 0, err, sizeof(err)), 0, "damaged file still opens");
	for (unsigned i = 0; i < 500; i++) {
		snprintf(d, sizeof(d), "d%u.example", i);
		if (omx_cache_get(&c, d, 100, &got))
			for (int j = 0; j < got.n; j++)
				if (omx_onion_check(got.rec[j].onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
					bad++;
	}
	for (uint32_t k = 0; k < OMX_CACHE_ADDR_SLOTS; k++) {
		struct omx_target t;
		uint32_t addr = net + k / 254 * 256 + k % 254 + 1;
		if (omx_cache_addr_onion(&c, addr, &t) &&
		    omx_onion_check(t.onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
			bad++;
	}
	is_int(bad, 0, "damaged entries never yield an invalid onion");
	omx_cache_close(&c);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	omx_parse_range(OMX_DEFAULT_DISCOVER_RANGE, &net, &mask);
	test_open();
	test_answers();
	test_addresses();
	test_full_and_reuse();
	test_processes();
	test_damage();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return done_testing();
}
